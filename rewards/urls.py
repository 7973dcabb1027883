from django.urls import path

from . import views

app_name = "rewards"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("vouchers/", views.vouchers, name="vouchers"),
    path("vouchers/<int:pk>/cancel/", views.voucher_cancel_view, name="voucher_cancel"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/redeem/", views.redeem, name="redeem"),
]
