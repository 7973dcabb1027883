"""Admin for the staff console's models, and the member admin with the console's adjustment page.

Program-rule admins (here and in the other apps) save through their app's services, which announce each change
to ``members.hooks``; this app registers the writer of the audit row (``BackofficeConfig.ready()``), so a change
and its :class:`~backoffice.models.StaffAuditLog` row commit in one transaction whoever calls the service.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backoffice import views
from backoffice.models import (
    AccountingPeriod,
    AccountingSettings,
    AdjustmentRequest,
    DailyActivity,
    DailyPoints,
    ImportJob,
    RedemptionRateEstimate,
    RollupState,
    SettlementStatement,
    StaffAuditLog,
    StaffSettings,
)
from backoffice.services.accounting import accounting_settings_save
from backoffice.services.staff import adjustment_approve, adjustment_reject, staff_settings_save
from members import admin as members_admin
from members.exceptions import LoyaltyError
from members.models import Member


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _pretty(value) -> str:
    if value is None:
        return "—"
    return format_html("<pre style='margin:0;white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2))


@admin.register(StaffAuditLog)
class StaffAuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "object_repr", "member", "short_reason"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_repr", "reason", "actor__email", "member__member_number", "object_id"]
    list_select_related = ["actor", "member__user"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "member",
        "before_pretty",
        "after_pretty",
        "reason",
    ]
    readonly_fields = fields

    @admin.display(description=_("reason"))
    def short_reason(self, obj):
        return (obj.reason[:60] + "…") if len(obj.reason) > 60 else obj.reason

    @admin.display(description=_("before"))
    def before_pretty(self, obj):
        return _pretty(obj.before)

    @admin.display(description=_("after"))
    def after_pretty(self, obj):
        return _pretty(obj.after)


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member_link", "points", "status", "requested_by", "decided_by", "reason"]
    list_filter = ["status"]
    search_fields = ["member__member_number", "reason", "requested_by__email"]
    list_select_related = ["member__user", "requested_by", "decided_by"]
    actions = ["approve_selected", "reject_selected"]

    @admin.display(description=_("member"))
    def member_link(self, obj):
        member = obj.member
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse("staff:member_360", args=[obj.member_id]),
            member.display_name,
            member.member_number,
        )

    def has_approve_permission(self, request):
        return request.user.has_perm("backoffice.approve_adjustment")

    def _decide(self, request, queryset, service, done_message):
        done = 0
        for request_obj in queryset:
            try:
                service(request=request_obj, actor=request.user)
            except LoyaltyError as error:
                self.message_user(request, f"#{request_obj.pk}: {error.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Approve and post the selected adjustments"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, adjustment_approve, _("%(count)s adjustments approved and posted."))

    @admin.action(description=_("Reject the selected adjustments"), permissions=["approve"])
    def reject_selected(self, request, queryset):
        self._decide(request, queryset, adjustment_reject, _("%(count)s adjustments rejected."))


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "dry_run", "status", "processed_rows", "total_rows", "error_count"]
    list_filter = ["kind", "status", "dry_run"]
    list_select_related = ["created_by"]
    fields = [
        "kind",
        "dry_run",
        "status",
        "file",
        "file_sha256",
        "source_name",
        "total_rows",
        "processed_rows",
        "created_rows",
        "skipped_rows",
        "written_rows",
        "error_count",
        "message",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/staff/importjob_change_form.html"

    def get_fields(self, request, obj=None):
        # The source name only means something for purchases (their entries say import:<name>).
        if obj is not None and obj.kind != ImportJob.Kind.PURCHASES:
            return [name for name in self.fields if name != "source_name"]
        return self.fields

    change_list_template = "admin/staff/importjob_change_list.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "job": job,
            "shown_errors": (job.errors or [])[:200] if job else [],
            "can_import": request.user.has_perms(["backoffice.import_data", "backoffice.add_importjob"]),
            "is_stuck": job.is_stuck() if job else False,
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(StaffSettings)
class StaffSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "support_adjustment_limit", "updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not StaffSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        staff_settings_save(staff_settings=obj, actor=request.user)


@admin.register(AccountingSettings)
class AccountingSettingsAdmin(admin.ModelAdmin):
    """The method of the points liability report. Estimates and periods are set on the report page itself."""

    list_display = ["__str__", "points_method", "updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not AccountingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        accounting_settings_save(accounting_settings=obj, actor=request.user)


@admin.register(RedemptionRateEstimate)
class RedemptionRateEstimateAdmin(ReadOnlyAdmin):
    """The history of expected redemption rates; new ones are recorded on the points liability report."""

    list_display = ["effective_from", "rate", "reason", "created_by", "created_at"]
    list_select_related = ["created_by"]


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(ReadOnlyAdmin):
    """Closed and reopened periods with the figures they were closed with; closed on the liability report."""

    list_display = ["start", "end", "status", "closed_by", "closed_at", "reopened_by", "reopened_at"]
    list_filter = ["status"]
    list_select_related = ["closed_by", "reopened_by"]


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdmin):
    """Whether the nightly analytics roll-up runs: the last day it reached and when."""

    list_display = ["__str__", "rolled_through", "rolled_at", "time_zone"]


@admin.register(DailyPoints)
class DailyPointsAdmin(ReadOnlyAdmin):
    list_display = ["day", "kind", "points", "pending_delta", "entries"]
    list_filter = ["kind"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(DailyActivity)
class DailyActivityAdmin(ReadOnlyAdmin):
    list_display = ["day", "enrolments", "purchases", "revenue"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(SettlementStatement)
class SettlementStatementAdmin(ReadOnlyAdmin):
    """Closed statements, frozen; each links to its page (items, CSV) in the staff console."""

    list_display = ["partner", "month", "points_issued", "points_clawed_back", "net_amount", "closed_at", "page"]
    list_filter = ["partner"]
    list_select_related = ["partner"]
    date_hierarchy = "month"

    @admin.display(description=_("statement"))
    def page(self, obj):
        url = reverse("staff:partner_statement", args=[obj.partner.slug, f"{obj.month:%Y-%m}"])
        return format_html('<a href="{}">{}</a>', url, _("Open"))


admin.site.unregister(Member)


@admin.register(Member)
class MemberAdmin(members_admin.MemberAdmin):
    """The members admin, with the console's one point-adjustment page linked from each member.

    ``/admin/members/member/<id>/adjust-points/`` keeps answering: it is the same page and form as the console's
    ``/admin/staff/members/<id>/adjust/``, returning to the member's admin page.
    """

    fieldsets = tuple(
        (name, {**options, "fields": ("account_summary", "adjust_link", *options["fields"][1:])})
        if options["fields"][:1] == ("account_summary",)
        else (name, options)
        for name, options in members_admin.MemberAdmin.fieldsets
    )
    readonly_fields = [*members_admin.MemberAdmin.readonly_fields, "adjust_link"]

    @admin.display(description=_("adjust"))
    def adjust_link(self, obj):
        if obj.status != Member.Status.ACTIVE:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:members_member_adjust_points", args=[obj.pk]),
            _("Adjust points…"),
        )

    def get_urls(self):
        return [
            path("<int:member_id>/adjust-points/", self.adjust_points_view, name="members_member_adjust_points"),
            *super().get_urls(),
        ]

    def adjust_points_view(self, request, member_id):
        done = reverse("admin:members_member_change", args=[member_id])
        return views.member_adjust(request, member_id, done_url=done)
