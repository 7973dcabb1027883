"""Point adjustments and program-rule changes leave an audit trail; big adjustments need a second person."""

from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.models import AdjustmentRequest, StaffAuditLog
from backoffice.roles import PROGRAM_MANAGER
from backoffice.services.staff import (
    AdjustmentAlreadyDecided,
    PermissionMissing,
    SelfApprovalNotAllowed,
    adjustment_approve,
    adjustment_reject,
    staff_points_adjust,
)
from members.exceptions import AdjustmentNotAllowed
from members.models import EarningRule, LedgerEntry, ProgramSettings, Tier
from tests.backoffice.conftest import staff_in

pytestmark = pytest.mark.django_db
Action = StaffAuditLog.Action


def test_small_adjustment_posts_at_once_and_is_audited(support, member):
    outcome = staff_points_adjust(member=member, points=120, reason="Missing stamp", actor=support, idempotency_key="a")
    assert not outcome.needs_approval
    entry = outcome.entry
    assert (entry.kind, entry.points, entry.actor) == (LedgerEntry.Kind.ADJUST, 120, support)
    log = StaffAuditLog.objects.get(action=Action.POINTS_ADJUSTED)
    assert (log.actor, log.member, log.reason) == (support, member, "Missing stamp")
    assert log.after["points"] == 120 and log.object_id == str(entry.pk)


def test_retrying_an_adjustment_posts_once(support, member):
    for _ in range(2):
        staff_points_adjust(member=member, points=10, reason="Retry", actor=support, idempotency_key="same")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).count() == 1
    assert StaffAuditLog.objects.filter(action=Action.POINTS_ADJUSTED).count() == 1


def test_adjustment_needs_a_reason(support, member):
    with pytest.raises(AdjustmentNotAllowed):
        staff_points_adjust(member=member, points=10, reason="  ", actor=support, idempotency_key="r")
    assert not LedgerEntry.objects.exists()


def test_marketer_cannot_adjust(marketer, member):
    with pytest.raises(PermissionMissing):
        staff_points_adjust(member=member, points=10, reason="x", actor=marketer, idempotency_key="m")


def test_over_the_limit_needs_a_second_person(support, manager, second_manager, member):
    outcome = staff_points_adjust(member=member, points=-501, reason="Fraud", actor=support, idempotency_key="big")
    assert outcome.needs_approval
    assert not LedgerEntry.objects.exists()
    outcome = staff_points_adjust(
        member=member, points=5000, reason="Migration fix", actor=manager, idempotency_key="b"
    )
    request = outcome.request
    assert request.status == AdjustmentRequest.Status.PENDING and not LedgerEntry.objects.exists()

    with pytest.raises(SelfApprovalNotAllowed):
        adjustment_approve(request=request, actor=manager)
    with pytest.raises(PermissionMissing):
        adjustment_approve(request=request, actor=support)
    assert not LedgerEntry.objects.exists()

    approved = adjustment_approve(request=request, actor=second_manager, note="Checked the old system")
    assert approved.status == AdjustmentRequest.Status.APPROVED
    assert approved.decided_by == second_manager
    entry = approved.entry
    assert entry.points == 5000 and entry.idempotency_key == f"adjustment-request:{request.pk}"
    member.account.refresh_from_db()
    assert member.account.balance == 5000
    with pytest.raises(AdjustmentAlreadyDecided):
        adjustment_approve(request=request, actor=second_manager)
    actions = list(StaffAuditLog.objects.filter(member=member).order_by("id").values_list("action", flat=True))
    assert actions == [Action.ADJUSTMENT_REQUESTED, Action.ADJUSTMENT_REQUESTED, Action.ADJUSTMENT_APPROVED]


def test_rejection_posts_nothing(support, manager, member):
    request = staff_points_adjust(member=member, points=900, reason="Big", actor=support, idempotency_key="x").request
    rejected = adjustment_reject(request=request, actor=manager, note="No evidence")
    assert rejected.status == AdjustmentRequest.Status.REJECTED and rejected.entry is None
    assert not LedgerEntry.objects.exists()
    assert StaffAuditLog.objects.filter(action=Action.ADJUSTMENT_REJECTED, reason="No evidence").exists()


def test_the_support_limit_comes_from_staff_settings(support, member):
    from backoffice.models import StaffSettings

    settings = StaffSettings.load()
    settings.support_adjustment_limit = 50
    settings.save()
    assert staff_points_adjust(member=member, points=51, reason="x", actor=support, idempotency_key="1").needs_approval
    assert not staff_points_adjust(
        member=member, points=50, reason="x", actor=support, idempotency_key="2"
    ).needs_approval


def test_admin_action_approves_only_other_peoples_requests(client, manager, second_manager, member):
    own = staff_points_adjust(member=member, points=800, reason="Own", actor=manager, idempotency_key="o").request
    other = staff_points_adjust(
        member=member, points=700, reason="Other", actor=second_manager, idempotency_key="p"
    ).request
    client.force_login(manager)
    response = client.post(
        reverse("admin:backoffice_adjustmentrequest_changelist"),
        {"action": "approve_selected", "_selected_action": [own.pk, other.pk], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.status == AdjustmentRequest.Status.PENDING
    assert other.status == AdjustmentRequest.Status.APPROVED
    assert "cannot approve your own" in response.content.decode()


def test_adjust_page_over_limit_creates_a_request(client, support, member):
    client.force_login(support)
    response = client.post(
        reverse("staff:member_adjust", args=[member.pk]), {"points": "1000", "reason": "Big", "token": "tok"}
    )
    assert response.status_code == 302
    assert AdjustmentRequest.objects.get().points == 1000
    assert not LedgerEntry.objects.exists()


def test_adjust_page_shows_domain_errors(client, support, member):
    client.force_login(support)
    response = client.post(
        reverse("staff:member_adjust", args=[member.pk]), {"points": "-10", "reason": "Oops", "token": "tok"}
    )
    assert response.status_code == 200
    assert "Not enough points" in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_rule_changes_in_the_admin_are_audited(client, roles):
    manager = staff_in(PROGRAM_MANAGER)
    client.force_login(manager)
    tier = Tier.objects.get(name="Silver")
    response = client.post(
        reverse("admin:members_tier_change", args=[tier.pk]),
        {
            "name": "Silver",
            "rank": tier.rank,
            "threshold": "1200",
            "earn_multiplier": "1.25",
            "perks": tier.perks,
            "colour": tier.colour,
        },
    )
    assert response.status_code == 302
    log = StaffAuditLog.objects.get(action=Action.RULE_CHANGED)
    assert log.object_type == "members.tier" and log.actor == manager
    assert log.before == {"threshold": "1000.00"} and log.after == {"threshold": "1200.00"}

    program = ProgramSettings.objects.get(pk=1)
    data = {
        f.name: getattr(program, f.name) for f in ProgramSettings._meta.concrete_fields if f.editable and f.name != "id"
    }
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["point_value"] = "0.0200"
    data["refund_points_on_voucher_expiry"] = "on" if program.refund_points_on_voucher_expiry else ""
    response = client.post(reverse("admin:members_programsettings_change", args=[1]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    log = StaffAuditLog.objects.filter(object_type="members.programsettings").get()
    assert log.before["point_value"] == "0.0100" and Decimal(log.after["point_value"]) == Decimal("0.02")

    response = client.post(
        reverse("admin:members_earningrule_add"),
        {
            "name": "Coffee x2",
            "kind": "category_multiplier",
            "is_active": "on",
            "priority": "10",
            "rate": "2",
            "category": "coffee",
            "sku": "",
            "channel": "",
            "min_spend": "0",
        },
    )
    assert response.status_code == 302
    rule = EarningRule.objects.get(name="Coffee x2")
    assert StaffAuditLog.objects.get(action=Action.RULE_CREATED, object_id=str(rule.pk)).after["rate"] == "2.0000"
    response = client.post(reverse("admin:members_earningrule_delete", args=[rule.pk]), {"post": "yes"})
    assert response.status_code == 302
    deleted = StaffAuditLog.objects.get(action=Action.RULE_DELETED)
    assert deleted.object_id == str(rule.pk) and deleted.before["name"] == "Coffee x2"


def test_saving_without_changes_records_nothing(client, roles):
    client.force_login(staff_in(PROGRAM_MANAGER))
    tier = Tier.objects.get(name="Gold")
    client.post(
        reverse("admin:members_tier_change", args=[tier.pk]),
        {
            "name": tier.name,
            "rank": tier.rank,
            "threshold": tier.threshold,
            "earn_multiplier": tier.earn_multiplier,
            "perks": tier.perks,
            "colour": tier.colour,
        },
    )
    assert not StaffAuditLog.objects.exists()


def test_audit_log_is_read_only_in_the_admin(client, auditor, support, member):
    staff_points_adjust(member=member, points=5, reason="x", actor=support, idempotency_key="z")
    log = StaffAuditLog.objects.get()
    client.force_login(auditor)
    page = client.get(reverse("admin:backoffice_staffauditlog_change", args=[log.pk]))
    assert page.status_code == 200
    assert not page.context["has_change_permission"] and 'name="_save"' not in page.content.decode()
    delete_url = reverse("admin:backoffice_staffauditlog_delete", args=[log.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    with pytest.raises(ValueError, match="append-only"):
        log.save()


def test_the_reason_error_sits_beside_the_reason_field(client, support, member):
    client.force_login(support)
    body = client.post(
        reverse("staff:member_adjust", args=[member.pk]), {"points": "10", "reason": "   ", "token": "tok"}
    ).content.decode()
    # The error follows the Reason input, inside its own row (it used to sit above the label, under Points).
    errors_at = body.index('id="id_reason_errors"')
    assert body.index('id="id_points"') < body.index('id="id_reason"') < errors_at
    assert body.count("This field is required.") == 1 and body.index("This field is required.") > errors_at
    assert not LedgerEntry.objects.exists()


def test_adjustment_requests_list_the_member_by_name_and_number(client, support, manager, member):
    staff_points_adjust(member=member, points=1000, reason="Big", actor=support, idempotency_key="big")
    client.force_login(manager)
    body = client.get(reverse("admin:backoffice_adjustmentrequest_changelist")).content.decode()
    assert f"{member.display_name}</a> ({member.member_number})" in body
