"""Staff console pages inside the admin. Thin: forms in, services and selectors out.

Every view is wrapped in ``admin.site.admin_view`` (staff login) and checks its own permissions (403 otherwise).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import wraps
from itertools import chain

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice import accounting, analytics, exports, home, settlement
from backoffice.forms import (
    AdjustPointsForm,
    AsOfForm,
    ClosePeriodForm,
    ImportForm,
    PeriodForm,
    RedemptionEstimateForm,
    ReopenPeriodForm,
)
from backoffice.imports import error_report_rows
from backoffice.models import AccountingPeriod, ImportJob, StaffAuditLog
from backoffice.periods import Period, day_start
from backoffice.selectors import member_360 as member_360_read
from backoffice.services.accounting import (
    accounting_period_close,
    accounting_period_reopen,
    redemption_estimate_set,
)
from backoffice.services.settlement import settlement_close
from backoffice.services.staff import (
    audit_record,
    import_job_cancel,
    import_job_create,
    import_job_resume,
    staff_points_adjust,
    staff_settings_get,
)
from integrations.replica import data_as_of, reads_from_replica, rows_from_replica
from members import nps
from members.charts import bar_chart, signed_bar_chart
from members.csvio import csv_response
from members.exceptions import LoyaltyError
from members.forms import apply_domain_error
from members.models import Member
from members.months import add_months
from members.selectors import member_find as member_find_one
from members.selectors import partner_get, partners_by_id, program_settings_get
from members.subscriptions.selectors import subscription_fees_deferred, subscription_figures
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
            "action_reviews": user.has_perm("members.review_actionoccurrence"),
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
    dashboard = charts = as_of = subscriptions = None
    if form.is_valid():
        with reads_from_replica():
            dashboard = analytics.dashboard_get(form.period)
            subscriptions = subscription_figures(start_at=form.period.start_at, end_at=form.period.end_at)
            as_of = data_as_of()
        tier_rows = dashboard.tier_distribution
        charts = {
            "enrolments": bar_chart(
                [(day.strftime("%d %b"), n) for day, n in dashboard.enrolments_by_day],
                title=_("Enrolments per day"),
                x_label=_("day"),
                y_label=_("members"),
            ),
            "issued": bar_chart(
                [(day.strftime("%d %b"), issued) for day, issued, _r in dashboard.points_by_day],
                title=_("Points issued per day"),
                x_label=_("day"),
                y_label=_("points"),
            ),
            "redeemed": bar_chart(
                [(day.strftime("%d %b"), redeemed) for day, _i, redeemed in dashboard.points_by_day],
                title=_("Points redeemed per day"),
                colour="#b45309",
                x_label=_("day"),
                y_label=_("points"),
            ),
            "tiers": bar_chart(
                [(row["tier__name"] or _("No tier"), row["members"]) for row in tier_rows],
                title=_("Active members per tier"),
                x_label=_("tier"),
                y_label=_("members"),
                colours=[row["tier__colour"] or "#888888" for row in tier_rows] or None,
            ),
        }
    status = 200 if form.is_valid() else 400
    return render(
        request,
        "admin/staff/analytics.html",
        _context(
            request,
            _("Program analytics"),
            form=form,
            dashboard=dashboard,
            charts=charts,
            as_of=as_of,
            subscriptions=subscriptions,
        ),
        status=status,
    )


def _accounting_forms(request):
    # Filters of the report (e.g. by issuing partner) belong here, bound from the query string like these two.
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


def _liability_page(request, as_of_form, period_form, *, status: int | None = None, **forms):
    """The report: the points liability at a date, the period's point movements and its IFRS 15 figures for
    points, the estimates and the accounting periods. Further liabilities (e.g. deferred subscription fees) are
    sections of their own after the points ones, in the template's ``other_liabilities`` block and the CSV."""
    user = request.user
    partner = _issuing_partner(request)
    with reads_from_replica():
        liability = accounting.liability_as_of(as_of_form.cleaned_data["as_of"]) if as_of_form.is_valid() else None
        movements = (
            accounting.movements_for(period_form.period, partner_id=partner.pk if partner else None)
            if period_form.is_valid()
            else None
        )
        points_revenue = accounting.points_revenue_for(period_form.period) if period_form.is_valid() else None
        estimates = accounting.redemption_estimates()
        periods = list(AccountingPeriod.objects.select_related("closed_by", "reopened_by").order_by("-end", "-id"))
        subscription_fees = _subscription_fees(as_of_form)
        data_as_of_time = data_as_of()
    for period in periods:
        period.closing_figures = accounting.PoolFigures.from_json(period.figures["closing"])
        period.closing_liability = period.closing_figures.liability
    last_closed = next((p for p in periods if p.status == AccountingPeriod.Status.CLOSED), None)
    history_charts = _liability_history_charts(periods)
    can = {
        "estimate": user.has_perm("backoffice.set_redemption_estimate"),
        "close": user.has_perm("backoffice.close_accounting_period"),
        "reopen": user.has_perm("backoffice.reopen_accounting_period"),
    }
    # Suggest the next period to close: the month after the last closed period, else last month.
    if last_closed is not None:
        close_start = last_closed.end + timedelta(days=1)
    else:
        close_start = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    close_end = (close_start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    close_initial = {"start": close_start.isoformat(), "end": close_end.isoformat()}
    if status is None:
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
            points_revenue=points_revenue,
            estimates=list(reversed(estimates)),
            historical_rate=accounting.historical_redemption_rate(liability) if liability else None,
            periods=periods,
            last_closed=last_closed,
            history_charts=history_charts,
            can=can,
            estimate_form=forms.get("estimate_form") or RedemptionEstimateForm(),
            close_form=forms.get("close_form") or ClosePeriodForm(initial=close_initial),
            reopen_form=forms.get("reopen_form") or ReopenPeriodForm(),
            query=request.GET.urlencode(),
            as_of=data_as_of_time,
            subscription_fees=subscription_fees,
            partners=sorted(partners_by_id().values(), key=str),
            issuing_partner=partner,
        ),
        status=status,
    )


def _back_to_report(request):
    query = request.GET.urlencode()
    return redirect(reverse("staff:liability") + (f"?{query}" if query else ""))


@require_POST
@staff_view("backoffice.view_reports", "backoffice.set_redemption_estimate")
def liability_estimate(request):
    form = RedemptionEstimateForm(request.POST)
    if form.is_valid():
        try:
            redemption_estimate_set(actor=request.user, **form.cleaned_data)
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, _("The expected redemption rate was recorded."))
            return _back_to_report(request)
    as_of_form, period_form = _accounting_forms(request)
    return _liability_page(request, as_of_form, period_form, status=400, estimate_form=form)


@require_POST
@staff_view("backoffice.view_reports", "backoffice.close_accounting_period")
def liability_period_close(request):
    form = ClosePeriodForm(request.POST)
    if form.is_valid():
        try:
            period = accounting_period_close(actor=request.user, **form.cleaned_data)
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, _("The period %(period)s is closed.") % {"period": period})
            return _back_to_report(request)
    as_of_form, period_form = _accounting_forms(request)
    return _liability_page(request, as_of_form, period_form, status=400, close_form=form)


@require_POST
@staff_view("backoffice.view_reports", "backoffice.reopen_accounting_period")
def liability_period_reopen(request, period_id: int):
    period = get_object_or_404(AccountingPeriod, pk=period_id)
    form = ReopenPeriodForm(request.POST)
    if form.is_valid():
        try:
            accounting_period_reopen(period=period, reason=form.cleaned_data["reason"], actor=request.user)
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            messages.warning(request, _("The period %(period)s is open again.") % {"period": period})
            return _back_to_report(request)
    as_of_form, period_form = _accounting_forms(request)
    return _liability_page(request, as_of_form, period_form, status=400, reopen_form=form)


def _liability_history_charts(periods) -> dict | None:
    """Liability and expected breakage over time, from the closed periods' stored figures (read once, in
    ``_liability_page``; no further query): oldest first, one bar per period end."""
    closed = [p for p in reversed(periods) if p.status == AccountingPeriod.Status.CLOSED]
    if not closed:
        return None
    labels = [period.end.strftime("%b %Y") for period in closed]
    rates = [period.closing_figures.redemption_rate for period in closed]
    currency = program_settings_get().currency
    return {
        "liability": bar_chart(
            [(label, float(period.closing_liability)) for label, period in zip(labels, closed, strict=True)],
            title=_("Contract liability for points at each closed period's end"),
            x_label=_("period end"),
            y_label=currency,
        ),
        "breakage": bar_chart(
            [(label, float((1 - rate) * 100)) for label, rate in zip(labels, rates, strict=True)],
            title=_("Expected breakage (points not expected to be redeemed)"),
            x_label=_("period end"),
            y_label="%",
            colour="#b45309",
        ),
    }


def _subscription_fees(as_of_form):
    """Paid membership's fees deferred at the end of the report's day (its own section of the report)."""
    if not as_of_form.is_valid():
        return None
    return subscription_fees_deferred(at=day_start(as_of_form.cleaned_data["as_of"] + timedelta(days=1)))


@staff_view("backoffice.view_reports", "backoffice.export_data")
def liability_csv(request):
    as_of_form, period_form = _accounting_forms(request)
    if not (as_of_form.is_valid() and period_form.is_valid()):
        return _liability_page(request, as_of_form, period_form)
    with reads_from_replica():
        liability = accounting.liability_as_of(as_of_form.cleaned_data["as_of"])
        partner = _issuing_partner(request)
        movements = accounting.movements_for(period_form.period, partner_id=partner.pk if partner else None)
        points_revenue = accounting.points_revenue_for(period_form.period)
    _audit_export(request, "points-accounting", {"as_of": str(liability.as_of), "period": str(movements.period)})
    # One section after another; a further liability (deferred subscription fees) adds its rows the same way.
    sections = [
        accounting.accounting_csv_rows(liability, movements),
        accounting.points_revenue_csv_rows(points_revenue),
    ]
    return csv_response(
        f"points-accounting-{liability.as_of}.csv",
        accounting.ACCOUNTING_CSV_HEADER,
        chain.from_iterable(sections),
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


@require_POST
@staff_view("backoffice.import_data", "backoffice.add_importjob")
def import_resume(request, job_id: int):
    """Resume a stuck import (its worker was killed) or one that failed without row errors."""
    job = get_object_or_404(ImportJob, pk=job_id)
    try:
        import_job_resume(job=job, actor=request.user)
    except LoyaltyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Import resumed: it continues after its last committed chunk."))
    return redirect("admin:backoffice_importjob_change", job.pk)


@require_POST
@staff_view("backoffice.import_data", "backoffice.add_importjob")
def import_cancel(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    try:
        import_job_cancel(job=job, actor=request.user)
    except LoyaltyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Import cancelled."))
    return redirect("admin:backoffice_importjob_change", job.pk)


@staff_view("backoffice.view_importjob")
def import_errors_csv(request, job_id: int):
    job = get_object_or_404(ImportJob, pk=job_id)
    rows = error_report_rows(job)  # its first row is the header
    return csv_response(f"import-{job.pk}-errors.csv", next(rows), rows)


NPS_DEFAULT_DAYS = 84  # twelve weeks


@staff_view("backoffice.view_reports")
def nps_dashboard(request):
    """NPS per week and per store and channel, the response rate, the latest comments; one query per table."""
    form = PeriodForm.from_request(request, default_days=NPS_DEFAULT_DAYS)
    context = {"form": form, "query": request.GET.urlencode()}
    if form.is_valid():
        period = form.period
        with reads_from_replica():
            total = nps.nps_total(start=period.start, end=period.end)
            weeks = nps.nps_by_week(start=period.start, end=period.end)
            places = nps.nps_by_store_channel(start=period.start, end=period.end)
            comments = nps.feedback_latest(start=period.start, end=period.end)
            as_of = data_as_of()
        context.update(
            total=total,
            weeks=weeks,
            places=places,
            comments=comments,
            as_of=as_of,
            chart=signed_bar_chart(
                [(week.week.strftime("%d %b"), week.nps) for week in weeks], title=_("NPS per week")
            ),
            responses_chart=bar_chart(
                [(week.week.strftime("%d %b"), week.responses) for week in weeks], title=_("Answers per week")
            ),
        )
    status = 200 if form.is_valid() else 400
    return render(request, "admin/staff/nps.html", _context(request, _("Net Promoter Score"), **context), status=status)


@staff_view("backoffice.view_reports", "backoffice.export_data")
def nps_csv(request):
    form = PeriodForm.from_request(request, default_days=NPS_DEFAULT_DAYS)
    if not form.is_valid():
        return nps_dashboard(request)
    period = form.period
    _audit_export(request, "feedback", {"start": str(period.start), "end": str(period.end)})
    return csv_response(
        f"feedback-{period.start}-{period.end}.csv",
        nps.FEEDBACK_CSV_HEADER,
        rows_from_replica(nps.feedback_csv_rows(start=period.start, end=period.end)),
    )


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
