from django.urls import path

from . import views

app_name = "feedback"
urlpatterns = [
    path("kiosk/<str:agency_id>/", views.kiosk, name="kiosk"),
    path("kiosk/<str:agency_id>/form/", views.kiosk_form, name="kiosk_form"),
    path("sessions/<str:session_id>/links/", views.create_link, name="create_link"),
    path("sessions/<str:session_id>/kiosk/", views.create_kiosk, name="create_kiosk"),
    path("sessions/<str:session_id>/live/", views.live, name="live"),
    path("links/<str:link_id>/", views.link_ready, name="link_ready"),
    path("links/<str:link_id>/revoke/", views.revoke_link, name="revoke_link"),
    path("groups/", views.groups, name="groups"),
    path("groups/new/", views.new_group, name="new_group"),
    path("groups/<str:group_id>/", views.group_detail, name="group"),
    path("groups/<str:group_id>/rate/", views.group_rate, name="group_rate"),
    path("<str:token>/", views.link_form, name="link_form"),
]
