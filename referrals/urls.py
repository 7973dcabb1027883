from django.urls import path

from . import views

app_name = "referrals"

# Included at the site root: the member's page lives under /referrals/, the share link is short (/r/<code>/).
urlpatterns = [
    path("referrals/", views.index, name="index"),
    path("r/<str:code>/", views.landing, name="landing"),
]
