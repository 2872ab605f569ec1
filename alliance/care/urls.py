from django.urls import path

from . import handover_views, views

urlpatterns = [
    path("", views.caseload, name="caseload"),
    path("clients/new/", views.new_client, name="new_client"),
    path("clients/<str:public_id>/", views.client_detail, name="client"),
    path("clients/<str:public_id>/raters/", views.set_raters, name="set_raters"),
    path("clients/<str:public_id>/share/", views.share_client, name="share_client"),
    path(
        "clients/<str:public_id>/language/",
        views.set_client_language,
        name="set_client_language",
    ),
    path("clients/<str:public_id>/close/", views.close_episode, name="close_episode"),
    path("clients/<str:public_id>/reopen/", views.reopen_episode, name="reopen_episode"),
    path("clients/<str:public_id>/episodes/new/", views.start_episode, name="start_episode"),
    path(
        "clients/<str:public_id>/episodes/<str:episode_id>/",
        views.client_episode,
        name="client_episode",
    ),
    path(
        "clients/<str:public_id>/alerts/<int:alert_id>/acknowledge/",
        views.acknowledge_alert,
        name="acknowledge_alert",
    ),
    path("clients/<str:public_id>/sessions/start/", views.start_session, name="start_session"),
    path("clients/<str:public_id>/sessions/<int:number>/", views.session_page, name="session"),
    path(
        "clients/<str:public_id>/sessions/<int:number>/attendance/",
        views.set_attendance,
        name="set_attendance",
    ),
    path(
        "clients/<str:public_id>/sessions/<int:number>/handover/",
        handover_views.start_handover,
        name="start_handover",
    ),
    path("handover/", handover_views.handover_page, name="handover"),
    path("handover/thanks/", handover_views.handover_thanks, name="handover_thanks"),
    path("handover/give-back/", handover_views.handover_give_back, name="handover_give_back"),
    path(
        "clients/<str:public_id>/sessions/<int:number>/undo/<str:administration_id>/",
        views.undo_administration,
        name="undo_administration",
    ),
]
