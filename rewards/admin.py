"""Staff console for rewards. Every change goes through ``rewards.services``; creating, changing, switching on or
off, copying and deleting a reward leave a staff audit row (written by the services, see ``members.audit``)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.csvio import csv_response
from members.exceptions import LoyaltyError

from .models import PartnerCode, Redemption, Reward, Voucher
from .selectors import SHIPPING_LIST_COLUMNS, donation_totals_by_charity, shipping_list_rows
from .services import (
    partner_codes_upload,
    redemption_cancel,
    redemptions_mark_delivered,
    redemptions_mark_shipped,
    reward_delete,
    reward_duplicate,
    reward_save,
    rewards_set_active,
    voucher_cancel,
)


class PartnerCodeUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("One code per line in the first column; a 'code' header is optional.")
    )


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = (
        "image_preview",
        "name",
        "kind",
        "category",
        "points_cost",
        "stock_left",
        "redemption_count",
        "is_active",
        "featured",
        "sort_order",
    )
    list_display_links = ("image_preview", "name")
    list_filter = ("kind", "is_active", "featured", "requires_shipping", "category", "min_tier")
    search_fields = ("name", "slug", "description", "partner_name", "charity")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("image_preview_large", "partner_code_tools", "created_at", "updated_at")
    actions = ("activate", "deactivate", "duplicate")
    fieldsets = (
        (None, {"fields": ("kind", "name", "slug", "description", "category", "image", "image_preview_large")}),
        (
            _("Cost and value"),
            {"fields": ("points_cost", "value", "percent_off", "charity", "partner_name", "redeemable_at")},
        ),
        (
            _("Availability"),
            {
                "fields": (
                    "is_active",
                    "featured",
                    "sort_order",
                    "min_tier",
                    "available_from",
                    "available_until",
                    "stock",
                    "partner_code_tools",
                )
            },
        ),
        (_("Limits"), {"fields": ("per_member_limit", "per_member_period_limit", "period")}),
        (
            _("Paid membership"),
            {
                "fields": ("required_plan", "member_points_cost", "period_reward_plan"),
                "description": _(
                    "Members-only rewards need the plan; the members' price applies to subscribers of any plan; a "
                    "period reward (a voucher or partner reward) is given free to each subscriber every period."
                ),
            },
        ),
        (_("Fulfilment"), {"fields": ("requires_shipping", "voucher_validity_days")}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("min_tier")
            .annotate(redemption_total=Count("redemptions", filter=Q(redemptions__status=Redemption.Status.COMPLETED)))
        )

    @admin.display(description=_("Stock"), ordering="stock")
    def stock_left(self, obj):
        return "∞" if obj.stock is None else obj.stock

    @admin.display(description=_("Redemptions"), ordering="redemption_total")
    def redemption_count(self, obj):
        return obj.redemption_total

    @admin.display(description=_("Image"))
    def image_preview(self, obj):
        source = obj.thumbnail or obj.image
        if not source:
            return "—"
        return format_html('<img src="{}" alt="" style="height:40px;width:auto;border-radius:4px">', source.url)

    @admin.display(description=_("Preview"))
    def image_preview_large(self, obj):
        source = obj.thumbnail or obj.image
        if not source:
            return "—"
        return format_html('<img src="{}" alt="" style="max-width:320px;height:auto">', source.url)

    @admin.display(description=_("Partner codes"))
    def partner_code_tools(self, obj):
        if obj.pk is None or obj.kind != Reward.Kind.PARTNER:
            return _("Partner rewards only; save the reward first.")
        url = reverse("admin:rewards_reward_partner_codes", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Upload partner codes (CSV)"))

    def save_model(self, request, obj, form, change):
        reward_save(reward=obj, actor=request.user, changed_fields=form.changed_data)

    def delete_model(self, request, obj):
        reward_delete(reward=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for reward in queryset:
            reward_delete(reward=reward, actor=request.user)

    @admin.action(description=_("Activate selected rewards"), permissions=["change"])
    def activate(self, request, queryset):
        count = rewards_set_active(reward_ids=queryset.values_list("pk", flat=True), is_active=True, actor=request.user)
        self.message_user(request, ngettext("%d reward activated.", "%d rewards activated.", count) % count)

    @admin.action(description=_("Deactivate selected rewards"), permissions=["change"])
    def deactivate(self, request, queryset):
        count = rewards_set_active(
            reward_ids=queryset.values_list("pk", flat=True), is_active=False, actor=request.user
        )
        self.message_user(request, ngettext("%d reward deactivated.", "%d rewards deactivated.", count) % count)

    @admin.action(description=_("Duplicate selected rewards (as inactive copies)"), permissions=["add"])
    def duplicate(self, request, queryset):
        copies = [reward_duplicate(reward=reward, actor=request.user) for reward in queryset]
        self.message_user(
            request,
            ngettext("%d copy created.", "%d copies created.", len(copies)) % len(copies),
            messages.SUCCESS,
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/partner-codes/",
                self.admin_site.admin_view(self.partner_codes_view),
                name="rewards_reward_partner_codes",
            ),
            *super().get_urls(),
        ]

    def partner_codes_view(self, request, pk):
        reward = get_object_or_404(Reward, pk=pk)
        if not self.has_change_permission(request, reward):
            raise PermissionDenied
        form = PartnerCodeUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = partner_codes_upload(reward=reward, file=form.cleaned_data["file"])
            except LoyaltyError as error:
                form.add_error("file", error.message)
            else:
                message = _("%(added)s codes added, %(duplicates)s already in the pool, %(stock)s unused now.") % {
                    "added": result.added,
                    "duplicates": result.duplicates,
                    "stock": reward.stock,
                }
                self.message_user(request, message, messages.SUCCESS)
                if result.invalid:
                    lines = ", ".join(str(n) for n in result.invalid[:20])
                    self.message_user(request, _("Skipped over-long codes on lines: %s") % lines, messages.WARNING)
                return HttpResponseRedirect(reverse("admin:rewards_reward_change", args=[reward.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": reward,
            "title": _("Upload partner codes for %(reward)s") % {"reward": reward},
            "form": form,
            "codes_total": reward.partner_codes.count(),
        }
        return render(request, "rewards/admin/partner_codes_upload.html", context)


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "created_at",
        "member",
        "reward",
        "quantity",
        "points_spent",
        "status",
        "fulfilment_status",
        "shipped_at",
        "delivered_at",
    )
    list_filter = ("status", "fulfilment_status", "reward__kind", "created_at")
    list_select_related = ("member__user", "reward")
    search_fields = ("=member__member_number", "member__user__email", "=idempotency_key", "shipping_name", "charity")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("mark_shipped", "mark_delivered", "export_shipping_list", "cancel_and_refund")
    readonly_fields = [field.name for field in Redemption._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark as shipped"), permissions=["change"])
    def mark_shipped(self, request, queryset):
        count = redemptions_mark_shipped(redemption_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, ngettext("%d redemption shipped.", "%d redemptions shipped.", count) % count)

    @admin.action(description=_("Mark as delivered"), permissions=["change"])
    def mark_delivered(self, request, queryset):
        count = redemptions_mark_delivered(redemption_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, ngettext("%d redemption delivered.", "%d redemptions delivered.", count) % count)

    @admin.action(description=_("Export shipping list (CSV)"))
    def export_shipping_list(self, request, queryset):
        rows = shipping_list_rows(redemptions=queryset.exclude(fulfilment_status=Redemption.Fulfilment.NOT_REQUIRED))
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return csv_response(f"shipping-list-{stamp}.csv", SHIPPING_LIST_COLUMNS, rows)

    @admin.action(description=_("Cancel and return points"), permissions=["change"])
    def cancel_and_refund(self, request, queryset):
        done = 0
        for redemption in queryset:
            try:
                redemption_cancel(redemption=redemption, actor=request.user)
            except LoyaltyError as error:
                self.message_user(request, f"#{redemption.pk}: {error.message}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, ngettext("%d redemption cancelled.", "%d redemptions cancelled.", done) % done)

    def get_urls(self):
        return [
            path(
                "donations/",
                self.admin_site.admin_view(self.donations_view),
                name="rewards_redemption_donations",
            ),
            *super().get_urls(),
        ]

    def donations_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Donations per charity"),
            "totals": donation_totals_by_charity(),
        }
        return render(request, "rewards/admin/donation_totals.html", context)


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = ("code", "reward", "member", "state", "value", "issued_at", "expires_at", "used_at")
    list_filter = ("state", "reward__kind")
    list_select_related = ("reward", "member__user")
    search_fields = ("=code", "=member__member_number", "=purchase_reference")
    show_full_result_count = False
    actions = ("cancel_vouchers",)
    readonly_fields = [field.name for field in Voucher._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Cancel and return points"), permissions=["change"])
    def cancel_vouchers(self, request, queryset):
        done = 0
        for voucher in queryset:
            try:
                voucher_cancel(voucher=voucher, actor=request.user)
            except LoyaltyError as error:
                self.message_user(request, f"{voucher.code}: {error.message}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, ngettext("%d voucher cancelled.", "%d vouchers cancelled.", done) % done)


@admin.register(PartnerCode)
class PartnerCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "reward", "redemption", "assigned_at", "created_at")
    list_filter = ("reward",)
    list_select_related = ("reward",)
    search_fields = ("=code",)
    show_full_result_count = False
    readonly_fields = ("reward", "code", "redemption", "assigned_at", "created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
