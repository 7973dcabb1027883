from django.urls import path

from . import views

urlpatterns = [
    path("rewards/", views.RewardListView.as_view(), name="rewards"),
    path("members/<str:member_number>/redemptions/", views.MemberRedemptionView.as_view(), name="member-redemptions"),
    path("voucher-lookups/", views.VoucherLookupView.as_view(), name="voucher-lookup"),
    path("vouchers/<str:code>/", views.VoucherDetailView.as_view(), name="voucher-detail"),
    path("vouchers/<str:code>/redeem/", views.VoucherRedeemView.as_view(), name="voucher-redeem"),
]
