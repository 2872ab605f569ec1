from django.urls import path

from . import views

app_name = "practice"
urlpatterns = [
    path("", views.my_practice, name="mine"),
    path("team/", views.team, name="team"),
    path("people/<str:public_id>/", views.practice_of, name="of"),
    path("objectives/", views.create_objective, name="create_objective"),
    path("objectives/<str:public_id>/reflections/", views.add_reflection, name="add_reflection"),
    path("objectives/<str:public_id>/share/", views.share_objective, name="share_objective"),
]
