from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.offers, name="offers"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
