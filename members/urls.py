from django.urls import path

from . import views

app_name = "members"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("activity/", views.activity, name="activity"),
    path("tiers/", views.tiers, name="tiers"),
    path("earn/", views.earn, name="earn"),
    path("membership/", views.membership, name="membership"),
    path("card/", views.card, name="card"),
    path("profile/", views.profile, name="profile"),
    path("profile/export/", views.export, name="export"),
    path("profile/close/", views.close, name="close"),
    path("goodbye/", views.goodbye, name="goodbye"),
    path("join/", views.staff_join, name="staff_join"),
]
