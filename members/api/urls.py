from django.urls import path

from . import subscription_views, views

urlpatterns = [
    path("purchases/", views.PurchaseCreateView.as_view(), name="purchases"),
    path("purchases/preview/", views.PurchasePreviewView.as_view(), name="purchases-preview"),
    path("purchases/<str:external_id>/refunds/", views.PurchaseRefundView.as_view(), name="purchase-refunds"),
    path("members/", views.MemberListView.as_view(), name="members"),
    path("members/<str:member_number>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<str:member_number>/activity/", views.MemberActivityView.as_view(), name="member-activity"),
    # Paid membership
    path("plans/", subscription_views.PlanListView.as_view(), name="plans"),
    path(
        "members/<str:member_number>/subscriptions/",
        subscription_views.MemberSubscriptionCreateView.as_view(),
        name="member-subscriptions",
    ),
    path("subscriptions/<str:external_id>/", subscription_views.SubscriptionDetailView.as_view(), name="subscription"),
    *(
        path(f"subscriptions/<str:external_id>/{action}/", view.as_view(), name=f"subscription-{action}")
        for action, view in [
            ("renewals", subscription_views.SubscriptionRenewalView),
            ("payment-failed", subscription_views.SubscriptionPaymentFailedView),
            ("cancel", subscription_views.SubscriptionCancelView),
            ("plan-change", subscription_views.SubscriptionPlanChangeView),
            ("shipping", subscription_views.SubscriptionShippingView),
        ]
    ),
]
