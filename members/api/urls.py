from django.urls import path

from . import actions, subscription_views, views

urlpatterns = [
    path("purchases/", views.PurchaseCreateView.as_view(), name="purchases"),
    path("purchases/preview/", views.PurchasePreviewView.as_view(), name="purchases-preview"),
    path("purchases/<str:external_id>/refunds/", views.PurchaseRefundView.as_view(), name="purchase-refunds"),
    path("members/", views.MemberListView.as_view(), name="members"),
    path("members/<str:member_number>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<str:member_number>/activity/", views.MemberActivityView.as_view(), name="member-activity"),
    path("members/<str:member_number>/actions/", actions.MemberActionView.as_view(), name="member-actions"),
    path("members/<str:member_number>/feedback/", actions.MemberFeedbackView.as_view(), name="member-feedback"),
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
