"""Staff console for referrals: the list, the review queue (held referrals), the rules, disposable domains and
statistics. Referrals are read-only here; approving and rejecting go through the services, and so do the rules and
disposable domains, which leave a staff audit row (see ``members.audit``)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.exceptions import LoyaltyError

from .models import DisposableEmailDomain, HeldReferral, Referral, ReferralCode, ReferralEvent, ReferralProgram
from .selectors import referral_statistics
from .services import (
    disposable_domain_delete,
    disposable_domain_save,
    referral_approve,
    referral_program_save,
    referral_reject,
)


@admin.register(ReferralProgram)
class ReferralProgramAdmin(admin.ModelAdmin):
    fieldsets = (
        (
            _("Rewards"),
            {"fields": ("is_enabled", "referrer_points", "friend_points", "referrer_reward", "friend_reward")},
        ),
        (_("Qualifying purchase"), {"fields": ("min_purchase_amount", "qualify_within_days")}),
        (
            _("Fraud rules"),
            {
                "fields": (
                    "check_self_referral",
                    "check_disposable_email",
                    "check_velocity",
                    "velocity_max_per_hour",
                    "check_caps",
                    "max_per_referrer_per_month",
                    "max_per_referrer_total",
                    "cap_action",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return not ReferralProgram.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        referral_program_save(program=obj, actor=request.user)


@admin.register(DisposableEmailDomain)
class DisposableEmailDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "note", "created_at"]
    search_fields = ["domain", "note"]
    fields = ["domain", "note"]

    def save_model(self, request, obj, form, change):
        disposable_domain_save(domain=obj, actor=request.user)

    def delete_model(self, request, obj):
        disposable_domain_delete(domain=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for domain in queryset:
            disposable_domain_delete(domain=domain, actor=request.user)


@admin.register(ReferralCode)
class ReferralCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "member", "created_at"]
    search_fields = ["code", "member__member_number", "member__user__email"]
    list_select_related = ["member__user"]
    readonly_fields = ["code", "member", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReferralEventInline(admin.TabularInline):
    model = ReferralEvent
    fields = ["created_at", "rule", "outcome", "reason", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class ReviewReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


class ReferralAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "referrer",
        "friend",
        "code",
        "state",
        "reason",
        "referrer_points",
        "friend_points",
        "created_at",
        "qualified_at",
    ]
    list_filter = ["state", "created_at"]
    search_fields = ["code__code", "referrer__user__email", "friend__user__email", "referrer__member_number"]
    list_select_related = ["referrer__user", "friend__user", "code"]
    readonly_fields = [
        "referrer",
        "friend",
        "code",
        "state",
        "reason",
        "qualifying_purchase",
        "referrer_points",
        "friend_points",
        "signup_ip",
        "reviewed_by",
        "reviewed_at",
        "created_at",
        "qualified_at",
    ]
    fields = readonly_fields
    inlines = [ReferralEventInline]
    actions = ["approve_referrals", "reject_referrals"]
    date_hierarchy = "created_at"
    change_list_template = "referrals/admin/referral_change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # A referral's page is read-only; staff with the change permission decide through the review actions.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "statistics/",
                self.admin_site.admin_view(self.statistics_view),
                name="{}_{}_statistics".format(*info),
            ),
            *super().get_urls(),
        ]

    def statistics_view(self, request):
        context = {
            **self.admin_site.each_context(request),
            "title": _("Referral statistics"),
            "opts": self.opts,
            "stats": referral_statistics(),
        }
        return TemplateResponse(request, "referrals/admin/statistics.html", context)

    def _review(self, request, queryset, *, action, verb, service, default_reason, reason_required):
        if "apply" in request.POST:
            form = ReviewReasonForm(request.POST)
            form.fields["reason"].required = reason_required
            if form.is_valid():
                done, failed = 0, []
                for referral in queryset.order_by("id"):
                    try:
                        service(referral=referral, actor=request.user, reason=form.cleaned_data["reason"])
                        done += 1
                    except LoyaltyError as error:
                        failed.append(f"#{referral.pk}: {error.message}")
                if done:
                    self.message_user(
                        request,
                        ngettext("%(count)d referral %(verb)s.", "%(count)d referrals %(verb)s.", done)
                        % {"count": done, "verb": verb},
                        messages.SUCCESS,
                    )
                for message in failed:
                    self.message_user(request, message, messages.ERROR)
                return None
        else:
            form = ReviewReasonForm(initial={"reason": default_reason})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Review referrals"),
            "opts": self.opts,
            "referrals": queryset.select_related("referrer__user", "friend__user"),
            "form": form,
            "action": action,
            "verb": verb,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "referrals/admin/review_action.html", context)

    @admin.action(description=_("Approve selected held referrals"), permissions=["change"])
    def approve_referrals(self, request, queryset):
        return self._review(
            request,
            queryset,
            action="approve_referrals",
            verb=_("approved"),
            service=referral_approve,
            default_reason=_("Approved after review."),
            reason_required=False,
        )

    @admin.action(description=_("Reject selected referrals"), permissions=["change"])
    def reject_referrals(self, request, queryset):
        return self._review(
            request,
            queryset,
            action="reject_referrals",
            verb=_("rejected"),
            service=referral_reject,
            default_reason=_("Rejected after review."),
            reason_required=True,
        )


admin.site.register(Referral, ReferralAdmin)


@admin.register(HeldReferral)
class HeldReferralAdmin(ReferralAdmin):
    """The review queue: only held referrals, oldest first."""

    list_filter = ["created_at"]
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=Referral.State.HELD)
