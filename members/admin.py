"""Staff console for the members core.

Program rules (settings, tiers, earning rules) are saved and deleted through :mod:`members.services.program`,
which leaves an audit row in the same transaction. Points never change here directly: the ledger, lots,
purchases and accounts are read-only, and reversing an entry goes through
:func:`members.services.staff.points_reverse_by_staff`, audited too. Adjusting a member's points is the staff
console's page (one page, one form, with the support limit and two-person approval); ``backoffice.admin`` links
it from the member. Every page runs a fixed number of queries whatever a member's history: the member page shows
the latest rows only and links to the filtered, paginated lists.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.db.models import Case, Value, When
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from .calculators import CALCULATORS
from .exceptions import LoyaltyError
from .models import (
    ActionOccurrence,
    EarningAction,
    EarningRule,
    FeedbackResponse,
    LedgerEntry,
    Member,
    Partner,
    PartnerRate,
    PartnerStore,
    PointPayment,
    PointsAccount,
    PointsLot,
    ProgramSettings,
    Purchase,
    PurchaseDiscount,
    PurchaseLine,
    Refund,
    Tier,
    TierHistory,
    User,
)
from .selectors import member_find
from .services import member_update_profile
from .services.actions import (
    action_occurrence_approve,
    action_occurrence_reject,
    earning_action_delete,
    earning_action_save,
)
from .services.partners import partner_rate_add, partner_rate_errors, partner_save, partner_store_save
from .services.program import (
    earning_rule_delete,
    earning_rule_save,
    program_settings_save,
    tier_delete,
    tier_save,
)
from .services.staff import points_reverse_by_staff

RECENT_ROWS = 20


class ReadOnlyAdminMixin:
    """View-only admin: rows are written by services, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccountFilterMixin:
    """Lets the member page link to ``?account=<member id>`` without a filter listing every account."""

    account_lookups = ("account", "account__exact", "account__member__member_number")

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.account_lookups or super().lookup_allowed(lookup, value, request)


def _member_link(member_id, label):
    return format_html('<a href="{}">{}</a>', reverse("admin:members_member_change", args=[member_id]), label)


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
    fieldsets = (
        (None, {"fields": ("name", "currency", "point_value")}),
        (_("Earning"), {"fields": ("base_rate", "rounding", "max_points_per_purchase", "pending_days")}),
        (_("Limits against typos"), {"fields": ("max_line_amount", "max_purchase_amount")}),
        (
            _("Expiry"),
            {
                "fields": ("expiry_policy", "expiry_unit", "expiry_months", "expiry_days", "expiry_reminder_days"),
                "description": _(
                    "Fixed: each purchase's points expire the chosen number of months or days after they were "
                    "earned. Activity: all points expire once the member has made no purchase for that long. Days "
                    "and months count on the program's calendar (its time zone), keeping the time of day."
                ),
            },
        ),
        (_("Tiers"), {"fields": ("tier_basis", "tier_period", "tier_counts_bonus_points")}),
        (_("Transfers"), {"fields": ("transfer_max_points", "transfer_max_per_month")}),
        (
            _("Vouchers"),
            {"fields": ("voucher_validity_days", "voucher_cancel_grace_hours", "refund_points_on_voucher_expiry")},
        ),
        (
            _("Feedback after a purchase"),
            {"fields": ("feedback_delay_days", "feedback_interval_days", "feedback_link_days")},
        ),
    )

    def has_add_permission(self, request):
        return not ProgramSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: the list is just a detour to it (or to adding it, the first time).
        program = ProgramSettings.objects.only("pk").first()
        if program is None:
            return HttpResponseRedirect(reverse("admin:members_programsettings_add"))
        return HttpResponseRedirect(reverse("admin:members_programsettings_change", args=[program.pk]))

    def save_model(self, request, obj, form, change):
        program_settings_save(program=obj, actor=request.user)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "rank", "threshold", "earn_multiplier"]
    ordering = ["rank"]

    def save_model(self, request, obj, form, change):
        tier_save(tier=obj, actor=request.user)

    def delete_model(self, request, obj):
        tier_delete(tier=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for tier in queryset:
            tier_delete(tier=tier, actor=request.user)


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "stage",
        "priority",
        "stop_further_rules",
        "rate",
        "category",
        "sku",
        "channel",
        "partner",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "stop_further_rules", "partner"]
    search_fields = ["name", "category", "sku"]
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active", "rate")}),
        (_("Which lines"), {"fields": ("category", "sku", "channel", "min_spend")}),
        (
            _("Order"),
            {
                "fields": ("priority", "stop_further_rules"),
                "description": _(
                    "Rules run in stages: excluded categories first, then base rules (per currency unit, per "
                    "visit, per unit bought, cash-back), then multipliers. Within a stage the lower priority runs "
                    "first. A rule that stops further rules keeps the lines it applied to away from every rule "
                    "after it; the purchase preview lists each step in this order."
                ),
            },
        ),
    )

    def get_queryset(self, request):
        # Listed in the order the engine runs them, so the list reads like the preview's steps.
        stages = [When(kind=kind, then=Value(calculator.stage)) for kind, calculator in CALCULATORS.items()]
        queryset = self.model._default_manager.get_queryset().annotate(run_stage=Case(*stages, default=Value(0)))
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ["run_stage", "priority", "id"]

    @admin.display(description=_("stage"), ordering="run_stage")
    def stage(self, obj):
        return {1: _("1 · exclusions"), 2: _("2 · base"), 3: _("3 · multipliers")}.get(CALCULATORS[obj.kind].stage)

    def save_model(self, request, obj, form, change):
        earning_rule_save(rule=obj, actor=request.user)

    def delete_model(self, request, obj):
        earning_rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            earning_rule_delete(rule=rule, actor=request.user)


# --- coalition partners ----------------------------------------------------------------------------------------


class PartnerStoreInline(admin.TabularInline):
    model = PartnerStore
    extra = 0


class PartnerRuleInline(admin.TabularInline):
    model = EarningRule
    fk_name = "partner"
    extra = 0
    fields = ["name", "kind", "rate", "category", "sku", "min_spend", "priority", "is_active"]
    verbose_name = _("earning rule at this partner")
    verbose_name_plural = _(
        "earning rules at this partner (without one that gives points per spend or visit, the "
        "program's base rate applies)"
    )


class PartnerRateForm(forms.ModelForm):
    class Meta:
        model = PartnerRate
        fields = ["effective_from", "price_per_point_issued", "reimbursement_per_point_redeemed"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and self.has_changed():
            errors = partner_rate_errors(
                partner=self.instance.partner if self.instance.partner_id else Partner(),
                effective_from=data.get("effective_from"),
                price=data.get("price_per_point_issued"),
                reimbursement=data.get("reimbursement_per_point_redeemed"),
            )
            for field, message in errors.items():
                self.add_error(field, message)
        return data


class PartnerRateInline(admin.TabularInline):
    """Rates are history: rows are added, never edited or deleted (settlement values points at the row in force
    when they moved)."""

    model = PartnerRate
    form = PartnerRateForm
    extra = 0
    can_delete = False
    verbose_name = _("rate (from a moment on)")
    verbose_name_plural = _("rates: price per point issued, reimbursement per point redeemed")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "counts_toward_tiers", "contact_email", "sort_order"]
    list_filter = ["status", "counts_toward_tiers"]
    search_fields = ["name", "slug", "contact_name", "contact_email"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [PartnerStoreInline, PartnerRuleInline, PartnerRateInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "slug", "status", "tagline", "description", "logo", "website", "sort_order")}),
        (_("Contact"), {"fields": ("contact_name", "contact_email", "contact_phone")}),
        (_("Earning"), {"fields": ("categories", "counts_toward_tiers")}),
    )

    def save_model(self, request, obj, form, change):
        partner_save(partner=obj, actor=request.user)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            if isinstance(deleted, EarningRule):
                earning_rule_delete(rule=deleted, actor=request.user)
            elif isinstance(deleted, PartnerStore):
                deleted.delete()
        for instance in instances:
            if isinstance(instance, PartnerRate):
                partner_rate_add(
                    partner=form.instance,
                    effective_from=instance.effective_from,
                    price_per_point_issued=instance.price_per_point_issued,
                    reimbursement_per_point_redeemed=instance.reimbursement_per_point_redeemed,
                    actor=request.user,
                )
            elif isinstance(instance, EarningRule):
                earning_rule_save(rule=instance, actor=request.user)
            elif isinstance(instance, PartnerStore):
                partner_store_save(store=instance, actor=request.user)


# --- members -----------------------------------------------------------------------------------------------------


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["member_number", "email", "name", "tier", "balance", "status", "enrolled_at"]
    list_filter = ["status", "tier"]
    # Member and card numbers are found by ``get_search_results`` (the one look-up by identifier).
    search_fields = ["user__email", "user__first_name", "user__last_name"]
    list_select_related = ["user", "tier", "account"]
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("member_number", "card_number", "user", "status", "enrolled_at", "closed_at")}),
        (_("Points"), {"fields": ("account_summary", "open_lots", "recent_entries")}),
        (_("Tier"), {"fields": ("tier", "tier_achieved_at", "tier_review_at", "recent_tier_history")}),
        (
            _("Profile"),
            {"fields": ("birthday", "phone", "marketing_consent", "email_notifications", "last_purchase_at")},
        ),
    )
    readonly_fields = [
        "member_number",
        "card_number",
        "user",
        "status",
        "enrolled_at",
        "closed_at",
        "tier",
        "tier_achieved_at",
        "tier_review_at",
        "last_purchase_at",
        "account_summary",
        "open_lots",
        "recent_entries",
        "recent_tier_history",
    ]

    def has_add_permission(self, request):
        return False  # members enrol through sign-up, the API or a till

    def has_delete_permission(self, request, obj=None):
        return False  # closing a membership keeps its ledger

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "tier", "account")

    def get_search_results(self, request, queryset, search_term):
        """Names and emails as typed, plus the member that ``member_find`` gives for the whole term: a member
        number, a card number (spaces allowed, as printed) or an exact email address."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        found = member_find(identifier=search_term) if search_term.strip() else None
        if found is not None:
            results |= queryset.filter(pk=found.pk)
        return results, may_have_duplicates

    @admin.display(description=_("email"), ordering="user__email")
    def email(self, obj):
        return obj.user.email

    @admin.display(description=_("name"))
    def name(self, obj):
        return obj.user.get_full_name()

    @admin.display(description=_("points"), ordering="account__balance")
    def balance(self, obj):
        return obj.account.balance

    @admin.display(description=_("account"))
    def account_summary(self, obj):
        account = obj.account
        rows = [
            (_("Spendable"), account.balance),
            (_("Pending"), account.pending),
            (_("Owed"), account.owed),
            (_("Earned (lifetime)"), account.lifetime_earned),
            (_("Spent (lifetime)"), account.lifetime_spent),
        ]
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join("", "<tr><th scope='row'>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("open lots"))
    def open_lots(self, obj):
        lots = list(PointsLot.objects.filter(account_id=obj.pk, remaining__gt=0).order_by("expires_at", "id")[:50])
        link = format_html(
            '<a href="{}?account={}">{}</a>', reverse("admin:members_pointslot_changelist"), obj.pk, _("All lots")
        )
        if not lots:
            return format_html("{} · {}", _("None"), link)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    lot.remaining,
                    lot.amount,
                    _("pending") if lot.is_pending else _("available"),
                    lot.available_at.date() if lot.is_pending else "",
                    lot.expires_at.date() if lot.expires_at else _("no date"),
                )
                for lot in lots
            ),
        )
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("Remaining"),
            _("Amount"),
            _("State"),
            _("Available"),
            _("Expires"),
        )
        return format_html("<table><thead>{}</thead><tbody>{}</tbody></table>{}", head, rows, link)

    @admin.display(description=_("latest ledger entries"))
    def recent_entries(self, obj):
        entries = list(LedgerEntry.objects.filter(account_id=obj.pk).order_by("-created_at", "-id")[:RECENT_ROWS])
        link = format_html(
            '<a href="{}?account={}">{}</a>',
            reverse("admin:members_ledgerentry_changelist"),
            obj.pk,
            _("Full ledger"),
        )
        if not entries:
            return format_html("{} · {}", _("None"), link)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    formats.date_format(timezone.localtime(entry.created_at), "DATETIME_FORMAT"),
                    entry.get_kind_display(),
                    f"{entry.points:+d}",
                    entry.pending_delta or "",
                    entry.balance_after,
                    entry.description,
                )
                for entry in entries
            ),
        )
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("When"),
            _("Kind"),
            _("Points"),
            _("Pending"),
            _("Balance"),
            _("Description"),
        )
        return format_html("<table><thead>{}</thead><tbody>{}</tbody></table>{}", head, rows, link)

    @admin.display(description=_("tier history"))
    def recent_tier_history(self, obj):
        history = list(
            TierHistory.objects.filter(member_id=obj.pk)
            .select_related("from_tier", "to_tier")
            .order_by("-created_at", "-id")[:RECENT_ROWS]
        )
        if not history:
            return _("None")
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
                (
                    (
                        formats.date_format(timezone.localtime(row.created_at), "DATE_FORMAT"),
                        row.get_reason_display(),
                        row.from_tier or "—",
                        row.to_tier or "—",
                        row.qualifying_value,
                    )
                    for row in history
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        # Profile fields only; balances and tiers change through their own services.
        member_update_profile(
            member=obj,
            birthday=form.cleaned_data.get("birthday"),
            phone=form.cleaned_data.get("phone", ""),
            marketing_consent=form.cleaned_data.get("marketing_consent"),
            email_notifications=form.cleaned_data.get("email_notifications"),
            by_staff=True,
        )


# --- ledger, lots and purchases: read-only -----------------------------------------------------------------------


class ReverseEntryForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(AccountFilterMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "member",
        "kind",
        "points",
        "pending_delta",
        "owed_delta",
        "balance_after",
        "description",
    ]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["account__member"]
    search_fields = ["=idempotency_key", "=account__member__member_number"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["reverse_entries"]
    readonly_fields = ["source_link"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__member", "actor", "purchase")

    @admin.display(description=_("member"), ordering="account_id")
    def member(self, obj):
        return _member_link(obj.account_id, obj.account.member.member_number)

    @admin.display(description=_("source"))
    def source_link(self, obj):
        if obj.source_type_id is None:
            return "—"
        return f"{obj.source_type} #{obj.source_id}"

    def has_reverse_permission(self, request):
        return request.user.has_perm("members.change_pointsaccount")

    @admin.action(description=_("Reverse selected entries…"), permissions=["reverse"])
    def reverse_entries(self, request, queryset):
        entries = list(queryset.select_related("account__member")[:100])
        form = ReverseEntryForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for entry in entries:
                try:
                    reversal = points_reverse_by_staff(
                        entry=entry, reason=form.cleaned_data["reason"], actor=request.user
                    )
                except LoyaltyError as error:
                    self.message_user(request, f"{entry.idempotency_key}: {error.message}", messages.ERROR)
                    continue
                if reversal.replayed:
                    self.message_user(
                        request, _("%(key)s was already reversed.") % {"key": entry.idempotency_key}, messages.WARNING
                    )
                else:
                    done += 1
            if done:
                self.message_user(request, _("Reversed %(count)s entries.") % {"count": done}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reverse ledger entries"),
            "entries": entries,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/members/ledgerentry/reverse_entries.html", context)


@admin.register(PointsLot)
class PointsLotAdmin(AccountFilterMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "member", "amount", "remaining", "expired", "is_pending", "available_at", "expires_at"]
    list_filter = ["is_pending"]
    list_select_related = ["account__member"]
    show_full_result_count = False
    list_per_page = 50

    @admin.display(description=_("member"), ordering="account_id")
    def member(self, obj):
        return _member_link(obj.account_id, obj.account.member.member_number)


@admin.register(PointsAccount)
class PointsAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["member", "balance", "pending", "owed", "lifetime_earned", "lifetime_spent", "updated_at"]
    list_select_related = ["member__user"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    extra = 0
    can_delete = False
    fields = ["line_number", "sku", "category", "quantity", "unit_price", "discount", "points", "refunded_quantity"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RefundInline(PurchaseLineInline):
    model = Refund
    fields = ["refund_id", "amount", "points_clawed_back", "points_returned", "created_at"]
    readonly_fields = fields


class PurchaseDiscountInline(PurchaseLineInline):
    model = PurchaseDiscount
    fields = ["position", "code", "kind", "line_number", "amount"]
    readonly_fields = fields


class PointPaymentInline(PurchaseLineInline):
    model = PointPayment
    fields = ["external_id", "points", "amount", "status", "created_at"]
    readonly_fields = fields


@admin.register(PointPayment)
class PointPaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["external_id", "member", "points", "amount", "currency", "status", "purchase", "created_at"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["member__user", "purchase"]
    search_fields = ["=external_id", "=purchase_external_id", "=member__member_number"]
    show_full_result_count = False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["external_id", "member", "channel", "store", "occurred_at", "total", "points_earned"]
    list_filter = ["channel", ("occurred_at", admin.DateFieldListFilter)]
    list_select_related = ["member__user"]
    search_fields = ["=external_id", "=member__member_number"]
    show_full_result_count = False
    inlines = [PurchaseLineInline, PurchaseDiscountInline, PointPaymentInline, RefundInline]


@admin.register(TierHistory)
class TierHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "member", "from_tier", "to_tier", "reason", "qualifying_value"]
    list_filter = ["reason"]
    list_select_related = ["member__user", "from_tier", "to_tier"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False


# --- earning actions and feedback ----------------------------------------------------------------------------------


@admin.register(EarningAction)
class EarningActionAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "points", "unit_name", "requires_approval", "is_active", "active_until"]
    list_filter = ["is_active", "requires_approval"]
    search_fields = ["name", "code"]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "sort_order", "is_active")}),
        (_("Points"), {"fields": ("points", "unit_name", "max_quantity")}),
        (
            _("Limits per member (units; program time zone)"),
            {"fields": ("limit_per_day", "limit_per_week", "limit_per_month", "limit_per_year", "limit_total")},
        ),
        (_("Who and when"), {"fields": ("active_from", "active_until", "min_tier", "requires_approval")}),
    )

    def save_model(self, request, obj, form, change):
        earning_action_save(action=obj, actor=request.user)

    def delete_model(self, request, obj):
        earning_action_delete(action=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for action in queryset:
            earning_action_delete(action=action, actor=request.user)


class ReviewReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


class PendingFirstFilter(admin.SimpleListFilter):
    """The review queue: occurrences waiting for review unless another status is chosen."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*ActionOccurrence.Status.choices, ("all", _("All"))]

    def choices(self, changelist):
        value = self.value() or ActionOccurrence.Status.PENDING_REVIEW
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or ActionOccurrence.Status.PENDING_REVIEW
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(ActionOccurrence)
class ActionOccurrenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The review queue of actions that need approval; approving or rejecting goes through the services."""

    list_display = ["created_at", "member", "action", "quantity", "points", "status", "reference", "reviewed_by"]
    list_filter = [PendingFirstFilter, "action"]
    list_select_related = ["member", "action", "reviewed_by"]
    search_fields = ["=member__member_number", "=external_id", "reference"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["approve_selected", "reject_selected"]

    @admin.display(description=_("member"), ordering="member_id")
    def member(self, obj):
        return _member_link(obj.member_id, obj.member.member_number)

    def has_review_permission(self, request):
        return request.user.has_perm("members.review_actionoccurrence")

    def _review(self, request, queryset, *, approve: bool):
        occurrences = list(queryset.select_related("member", "action")[:100])
        form = ReviewReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid() and not approve and not form.cleaned_data["reason"].strip():
            form.add_error("reason", _("Say why the occurrences are rejected."))
        if "apply" in request.POST and form.is_valid():
            done = 0
            reason = form.cleaned_data["reason"]
            for occurrence in occurrences:
                try:
                    if approve:
                        action_occurrence_approve(occurrence=occurrence, actor=request.user, reason=reason)
                    else:
                        action_occurrence_reject(occurrence=occurrence, actor=request.user, reason=reason)
                except LoyaltyError as error:
                    self.message_user(request, f"{occurrence.member.member_number}: {error.message}", messages.ERROR)
                else:
                    done += 1
            if done:
                text = _("Approved %(count)s occurrences.") if approve else _("Rejected %(count)s occurrences.")
                self.message_user(request, text % {"count": done}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Approve occurrences") if approve else _("Reject occurrences"),
            "occurrences": occurrences,
            "form": form,
            "approve": approve,
            "action_name": "approve_selected" if approve else "reject_selected",
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/members/actionoccurrence/review.html", context)

    @admin.action(description=_("Approve selected occurrences…"), permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._review(request, queryset, approve=True)

    @admin.action(description=_("Reject selected occurrences…"), permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._review(request, queryset, approve=False)


@admin.register(FeedbackResponse)
class FeedbackResponseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["answered_at", "member", "score", "channel", "store", "source", "comment"]
    list_filter = ["channel", "source", ("answered_at", admin.DateFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=member__member_number", "store"]
    show_full_result_count = False

    @admin.display(description=_("member"), ordering="member_id")
    def member(self, obj):
        return _member_link(obj.member_id, obj.member.member_number)


# Paid membership's pages live beside its models.
from .subscriptions import admin as subscriptions_admin  # noqa: E402, F401
