"""Staff console pages inside the admin. Thin: forms in, services and selectors out.

Every view is wrapped in ``admin.site.admin_view`` (staff login) and checks its own permissions (403 otherwise).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import wraps

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice import accounting, analytics, exports, home, settlement
from backoffice.forms import AdjustPointsForm, AsOfForm, ImportForm, PeriodForm
from backoffice.imports import error_report_rows
from backoffice.models import ImportJob, StaffAuditLog
from backoffice.periods import Period
from backoffice.selectors import member_360 as member_360_read
from backoffice.services.settlement import settlement_close
from backoffice.services.staff import audit_record, import_job_create, staff_points_adjust, staff_settings_get
from integrations.replica import data_as_of, reads_from_replica, rows_from_replica
from members.charts import bar_chart
from members.csvio import csv_response
from members.exceptions import LoyaltyError
from members.forms import apply_domain_error
from members.models import Member
from members.months import add_months
from members.selectors import member_find as member_find_one
from members.selectors import partner_get, partners_by_id
from rewards.selectors import REDEEMED_DEFINITION


def staff_view(*permissions: str):
    def decorator(view):
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.has_perms(permissions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return admin.site.admin_view(checked)

    return decorator


def _context(request, title: str, **extra) -> dict:
    return {
        **admin.site.each_context(request),
        "title": title,
        "redeemed_definition": REDEEMED_DEFINITION,
        **extra,
    }


def admin_index_context(request) -> dict:
    """What the admin index adds: links to the staff pages the user may open and, for report readers, today's
    key figures (``backoffice.home.key_figures``)."""
    user = request.user
    can_reports = user.has_perm("backoffice.view_reports")
    return {
        "staff_links": {
            "reports": can_reports,
            "exports": user.has_perm("backoffice.export_data"),
            "imports": user.has_perm("backoffice.import_data"),
            "members": user.has_perm("members.view_member") and user.has_perm("members.view_ledgerentry"),
            "approvals": user.has_perm("backoffice.view_adjustmentrequest"),
            "referrals": user.has_perm("referrals.view_referral"),
            "webhooks": user.has_perm("integrations.view_webhookdelivery"),
        },
        "key_figures": home.key_figures() if can_reports else None,
    }


@staff_view("members.view_member", "members.view_ledgerentry")
def member_find(request):
    """The console's member search: a member number, card number or email address opens the member 360."""
    identifier = (request.GET.get("q") or "").strip()
    member = member_find_one(identifier=identifier) if identifier else None
    if member is not None:
        return redirect("staff:member_360", member_id=member.pk)
    if identifier:
        messages.warning(request, _("No member has the number, card or email address %(q)s.") % {"q": identifier})
    else:
        messages.info(request, _("Enter a member number, card number or email address."))
    return redirect("admin:index")


@staff_view("members.view_member", "members.view_ledgerentry")
def member_360(request, member_id: int):
    try:
        data = member_360_read(member_id=member_id, before=request.GET.get("before"))
    except Member.DoesNotExist:
        raise Http404 from None
    user = request.user
    can = {
        "adjust": user.has_perm("backoffice.adjust_points"),
        "change_member": user.has_perm("members.change_member"),
        "approve": user.has_perm("backoffice.approve_adjustment"),
    }
    return render(
        request,
        "admin/staff/member_360.html",
        _context(request, _("Member %(number)s") % {"number": data["member"].member_number}, can=can, **data),
    )


@staff_view("members.view_member", "backoffice.adjust_points")
def member_adjust(request, member_id: int, done_url: str = ""):
    """The one point-adjustment page: the console's link and the member admin's "Adjust points…" both land here.

    ``done_url`` is where a successful post returns to (the member 360 unless the caller says otherwise).
    """
    member = get_object_or_404(Member.objects.select_related("user", "account"), pk=member_id)
    if request.method == "POST":
        form = AdjustPointsForm(request.POST)
    else:
        form = AdjustPointsForm(initial={"token": uuid.uuid4().hex})
    if request.method == "POST" and form.is_valid():
        try:
            # The form's token makes a double submit post once.
            outcome = staff_points_adjust(
                member=member,
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
                idempotency_key=f"staff-adjust:{member.pk}:{request.user.pk}:{form.cleaned_data['token']}",
            )
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            if outcome.needs_approval:
                messages.warning(
                    request,
                    _("The adjustment is over the support limit and waits for a second person's approval."),
                )
            elif outcome.entry.replayed:
                messages.info(request, _("This adjustment was already posted."))
            else:
                messages.success(
                    request,
                    _("Adjusted %(points)+d points; the balance is now %(balance)s.")
                    % {"points": outcome.entry.points, "balance": outcome.entry.balance_after},
                )
            return redirect(done_url or reverse("staff:member_360", kwargs={"member_id": member.pk}))
    return render(
        request,
        "admin/staff/member_adjust.html",
        _context(
            request,
            _("Adjust points of %(number)s") % {"number": member.member_number},
            member=member,
            form=form,
            limit=staff_settings_get().support_adjustment_limit,
        ),
    )


@staff_view("backoffice.view_reports")
def analytics_dashboard(request):
    form = PeriodForm.from_request(request)
    dashboard = charts = as_of = None
    if form.is_valid():
        with reads_from_replica():
            dashboard = analytics.dashboard_get(form.period)
            as_of = data_as_of()
        tier_rows = dashboard.tier_distribution
        charts = {
            "enrolments": bar_chart(
                [(day.strftime("%d %b"), n) for day, n in dashboard.enrolments_by_day], title=_("Enrolments per day")
            ),
            "issued": bar_chart(
                [(day.strftime("%d %b"), issued) for day, issued, _r in dashboard.points_by_day],
                title=_("Points issued per day"),
            ),
            "redeemed": bar_chart(
                [(day.strftime("%d %b"), redeemed) for day, _i, redeemed in dashboard.points_by_day],
                title=_("Points redeemed per day"),
                colour="#b45309",
            ),
            "tiers": bar_chart(
                [(row["tier__name"] or _("No tier"), row["members"]) for row in tier_rows],
                title=_("Active members per tier"),
                colours=[row["tier__colour"] or "#888888" for row in tier_rows] or None,
            ),
        }
    status = 200 if form.is_valid() else 400
    return render(
        request,
        "admin/staff/analytics.html",
        _context(request, _("Program analytics"), form=form, dashboard=dashboard, charts=charts, as_of=as_of),
        status=status,
    )


def _accounting_forms(request):
    as_of_form = AsOfForm.from_request(request)
    period_form = PeriodForm.from_request(request)
    return as_of_form, period_form


@staff_view("backoffice.view_reports")
def liability_report(request):
    as_of_form, period_form = _accounting_forms(request)
    return _liability_page(request, as_of_form, period_form)


def _issuing_partner(request):
    """``?partner=<slug>``: the liability report's movements at that issuing partner only."""
    slug = request.GET.get("partner") or ""
    return next((partner for partner in partners_by_id().values() if partner.slug == slug), None)


def _liability_page(request, as_of_form, period_form):
    partner = _issuing_partner(request)
    with reads_from_replica():
        liability = accounting.liability_as_of(as_of_form.cleaned_data["as_of"]) if as_of_form.is_valid() else None
        movements = (
            accounting.movements_for(period_form.period, partner_id=partner.pk if partner else None)
            if period_form.is_valid()
            else None
        )
        data_as_of_time = data_as_of()
    status = 200 if as_of_form.is_valid() and period_form.is_valid() else 400
    return render(
        request,
        "admin/staff/liability.html",
        _context(
            request,
            _("Points liability and movements"),
            as_of_form=as_of_form,
            period_form=period_form,
            liability=liability,
            movements=movements,
            query=request.GET.urlencode(),
            as_of=data_as_of_time,
            partners=sorted(partners_by_id().values(), key=str),
            issuing_partner=partner,
        ),
        status=status,
    )


@staff_view("backoffice.view_reports", "backoffice.export_data")
def liability_csv(request):
    as_of_form, period_form = _accounting_forms(request)
    if not (as_of_form.is_valid() and period_form.is_valid()):
        return _liability_page(request, as_of_form, period_form)
    with reads_from_replica():
        liability = accounting.liability_as_of(as_of_form.cleaned_data["as_of"])
        partner = _issuing_partner(request)
        movements = accounting.movements_for(period_form.period, partner_id=partner.pk if partner else None)
    _audit_export(request, "points-accounting", {"as_of": str(liability.as_of), "period": str(movements.period)})
    return csv_response(
        f"points-accounting-{liability.as_of}.csv",
        accounting.ACCOUNTING_CSV_HEADER,
        accounting.accounting_csv_rows(liability, movements),
    )


def _audit_export(request, what: str, details: dict) -> None:
    audit_record(actor=request.user, action=StaffAuditLog.Action.EXPORTED, object_repr=what, after=details)


@staff_view("backoffice.export_data")
def exports_index(request):
    form = PeriodForm.from_request(request)
    return render(
        request,
        "admin/staff/exports.html",
        _context(
            request,
            _("Exports"),
            form=form,
            query=request.GET.urlencode(),
        ),
    )


@staff_view("backoffice.export_data", "members.view_member")
def export_members(request):
    _audit_export(request, "members", {})
    return csv_response("members.csv", exports.MEMBER_HEADER, rows_from_replica(exports.members_rows()))


@staff_view("backoffice.export_data", "members.view_ledgerentry")
def export_ledger(request):
    form = PeriodForm.from_request(request)
    if not form.is_valid():
        return render(request, "admin/staff/exports.html", _context(request, _("Exports"), form=form), status=400)
    _audit_export(request, "ledger", {"start": str(form.period.start), "end": str(form.period.end)})
    return csv_response(
        f"ledger-{form.period.start}-{form.period.end}.csv",
        exports.LEDGER_HEADER,
        rows_from_replica(exports.ledger_rows(form.period)),
    )


@staff_view("backoffice.export_data", "rewards.view_redemption")
def export_redemptions(request):
    form = PeriodForm.from_request(request)
    if not form.is_valid():
        return render(request, "admin/staff/exports.html", _context(request, _("Exports"), form=form), status=400)
    _audit_export(request, "redemptions", {"start": str(form.period.start), "end": str(form.period.end)})
    return csv_response(
        f"redemptions-{form.period.start}-{form.period.end}.csv",
        exports.REDEMPTION_HEADER,
        rows_from_replica(exports.redemptions_rows(form.period)),
    )


@staff_view("backoffice.import_data", "backoffice.add_importjob")
def import_new(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_create(
                kind=form.cleaned_data["kind"],
                file=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
                source_name=form.cleaned_data["source_name"],
                actor=request.user,
            )
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            return redirect("admin:backoffice_importjob_change", job.pk)
    return render(request, "admin/staff/import_new.html", _context(request, _("New import"), form=form))


@require_POST
@staff_view("backoffice.import_data", "backoffice.add_importjob")
def import_run_for_real(request, job_id: int):
    """Start the real import of a file whose dry run came back clean."""
    source = get_object_or_404(ImportJob, pk=job_id, dry_run=True, status=ImportJob.Status.DONE, error_count=0)
    with source.file.open("rb") as handle:
        job = import_job_create(
            kind=source.kind, file=handle, dry_run=False, source_name=source.source_name, actor=request.user
        )
    return redirect("admin:backoffice_importjob_change", job.pk)


@staff_view("backoffice.view_importjob")
def import_errors_csv(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    rows = error_report_rows(job)  # its first row is the header
    return csv_response(f"import-{job.pk}-errors.csv", next(rows), rows)


# --- partner settlement ----------------------------------------------------------------------------------------


def _month_param(request, default=None):
    """``?month=YYYY-MM`` (default: last month), or None when it is not a month."""
    value = request.GET.get("month") or request.POST.get("month")
    if not value:
        return default or settlement.month_start(settlement.month_start(timezone.localdate()) - timedelta(days=1))
    try:
        return datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007 - a calendar month, not a moment
    except ValueError:
        return None


@staff_view("backoffice.view_reports")
def partner_settlements(request):
    month = _month_param(request)
    if month is None:
        raise Http404
    summary = settlement.summary_for(month)
    ledger_issued = accounting.movements_for(
        Period(month, add_months(month, 1) - timedelta(days=1)), use_rollups=False
    ).get("issued")
    return render(
        request,
        "admin/staff/partner_settlements.html",
        _context(
            request,
            _("Partner settlement"),
            summary=summary,
            ledger_issued=ledger_issued,
            month=month,
            previous=add_months(month, -1),
            following=add_months(month, 1),
            note=settlement.RECONCILIATION_NOTE,
        ),
    )


def _statement(slug: str, month_text: str):
    partner = partner_get(slug=slug)
    try:
        month = datetime.strptime(month_text, "%Y-%m").date()  # noqa: DTZ007 - a calendar month, not a moment
    except ValueError:
        month = None
    if partner is None or month is None:
        raise Http404
    return settlement.statement_for(partner, month)


#: Items listed on the page; the CSV has them all.
STATEMENT_PAGE_LINES = 500


@staff_view("backoffice.view_reports")
def partner_statement(request, slug, month):
    statement = _statement(slug, month)
    return render(
        request,
        "admin/staff/partner_statement.html",
        _context(
            request,
            _("Settlement: %(partner)s, %(month)s") % {"partner": statement.partner.name, "month": month},
            statement=statement,
            lines_shown=statement.lines[:STATEMENT_PAGE_LINES],
            lines_hidden=max(len(statement.lines) - STATEMENT_PAGE_LINES, 0),
            month_text=month,
            first_open=settlement.first_open_month(statement.partner),
            can_close=request.user.has_perm("backoffice.close_settlement"),
        ),
    )


@staff_view("backoffice.view_reports", "backoffice.export_data")
def partner_statement_csv(request, slug, month):
    statement = _statement(slug, month)
    _audit_export(request, "partner-statement", {"partner": statement.partner.slug, "month": month})
    return csv_response(
        f"settlement-{statement.partner.slug}-{month}.csv",
        settlement.STATEMENT_CSV_HEADER,
        settlement.statement_csv_rows(statement),
    )


@require_POST
@staff_view("backoffice.close_settlement")
def partner_statement_close(request, slug, month):
    statement = _statement(slug, month)
    try:
        settlement_close(partner=statement.partner, month=statement.month, actor=request.user)
    except LoyaltyError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("%(month)s is closed for %(partner)s.") % {"month": month, "partner": statement.partner}
        )
    return redirect("staff:partner_statement", slug=slug, month=month)
