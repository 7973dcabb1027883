from django.urls import path

from . import views

urlpatterns = [
    path("purchases/", views.PurchaseCreateView.as_view(), name="purchases"),
    path("purchases/preview/", views.PurchasePreviewView.as_view(), name="purchases-preview"),
    path("purchases/<str:external_id>/refunds/", views.PurchaseRefundView.as_view(), name="purchase-refunds"),
    path("members/", views.MemberListView.as_view(), name="members"),
    path("members/<str:member_number>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<str:member_number>/activity/", views.MemberActivityView.as_view(), name="member-activity"),
    path(
        "members/<str:member_number>/point-payments/",
        views.PointPaymentCreateView.as_view(),
        name="member-point-payments",
    ),
    path(
        "members/<str:member_number>/point-payments/<str:external_id>/",
        views.PointPaymentDetailView.as_view(),
        name="member-point-payment",
    ),
    path(
        "members/<str:member_number>/point-payments/<str:external_id>/cancel/",
        views.PointPaymentCancelView.as_view(),
        name="member-point-payment-cancel",
    ),
]
