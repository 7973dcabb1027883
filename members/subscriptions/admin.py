"""Staff pages of paid membership: plans are edited (through the audited service); subscriptions, their history
and savings are read-only, since the shop reports every change through the API."""

from django.contrib import admin

from .models import MembershipPlan, Subscription, SubscriptionEvent, SubscriptionSaving
from .services import membership_plan_save


@admin.register(MembershipPlan)
class MembershipPlanAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "price", "currency", "period", "trial_days", "earn_multiplier", "is_active"]
    list_filter = ["is_active", "period"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "is_active", "sort_order"]}),
        ("Price", {"fields": ["price", "currency", "period", "trial_days", "grace_days"]}),
        (
            "Benefits",
            {
                "fields": ["earn_multiplier", "multiplier_combination", "free_shipping", "early_access_days"],
                "description": "Members-only rewards, members-only points prices and the reward granted every "
                "period are set on each reward in the catalogue.",
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        membership_plan_save(plan=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # subscriptions and their history keep naming the plan: deactivate it instead


class SubscriptionEventInline(admin.TabularInline):
    model = SubscriptionEvent
    fields = ["occurred_at", "kind", "plan", "status", "amount", "currency", "period_start", "period_end", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-occurred_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["external_id", "member", "plan", "status", "current_period_end", "cancel_at_period_end"]
    list_filter = ["status", "plan"]
    search_fields = ["external_id", "member__member_number", "member__user__email"]
    list_select_related = ["member__user", "plan"]
    raw_id_fields = ["member"]
    inlines = [SubscriptionEventInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SubscriptionSaving)
class SubscriptionSavingAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "member", "kind", "amount", "currency", "points", "reference"]
    list_filter = ["kind"]
    list_select_related = ["member__user"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
