from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import EarningRule, Member, ProgramSettings, Tier, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return not ProgramSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "rank", "threshold", "earn_multiplier"]


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "rate", "category", "sku", "is_active", "priority"]
    list_filter = ["kind", "is_active"]


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["member_number", "user", "tier", "status", "enrolled_at"]
    search_fields = ["member_number", "card_number", "user__email", "user__first_name", "user__last_name"]
    list_select_related = ["user", "tier"]
    readonly_fields = ["member_number", "card_number", "enrolled_at"]


from .api.admin import *  # noqa: E402,F403  (integrations: API keys, webhooks)
from .staff import admin as staff_admin  # noqa: E402,F401
