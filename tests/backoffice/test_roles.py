"""Each staff group can do what its job needs and nothing else."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from backoffice.models import AdjustmentRequest
from backoffice.roles import AUDITOR, MARKETER, PROGRAM_MANAGER, SUPPORT, roles_setup
from campaigns.models import Campaign
from members.models import LedgerEntry, ProgramSettings, Tier
from rewards.models import Reward, Voucher
from rewards.services import reward_redeem
from tests.backoffice.conftest import staff_in
from tests.factories import RewardFactory, campaign_factory, points_give

pytestmark = pytest.mark.django_db

ROLES = [SUPPORT, MARKETER, PROGRAM_MANAGER, AUDITOR, None]


def _urls(member):
    tier = Tier.objects.order_by("rank").first()
    ProgramSettings.objects.get_or_create(pk=1)
    return {
        "member_list": reverse("admin:members_member_changelist"),
        "member_360": reverse("staff:member_360", args=[member.pk]),
        "adjust_form": reverse("staff:member_adjust", args=[member.pk]),
        "analytics": reverse("staff:analytics"),
        "liability": reverse("staff:liability"),
        "liability_csv": reverse("staff:liability_csv"),
        "export_members": reverse("staff:export_members"),
        "export_ledger": reverse("staff:export_ledger"),
        "program_settings": reverse("admin:members_programsettings_change", args=[1]),
        "tier_view": reverse("admin:members_tier_change", args=[tier.pk]),
        "audit_log": reverse("admin:backoffice_staffauditlog_changelist"),
        "adjustment_requests": reverse("admin:backoffice_adjustmentrequest_changelist"),
        "import_new": reverse("staff:import_new"),
        "import_jobs": reverse("admin:backoffice_importjob_changelist"),
        "staff_settings": reverse("admin:backoffice_staffsettings_changelist"),
        "reward_list": reverse("admin:rewards_reward_changelist"),
        "reward_add": reverse("admin:rewards_reward_add"),
        "redemption_list": reverse("admin:rewards_redemption_changelist"),
        "voucher_list": reverse("admin:rewards_voucher_changelist"),
        "campaign_list": reverse("admin:campaigns_campaign_changelist"),
        "campaign_add": reverse("admin:campaigns_campaign_add"),
        "segment_add": reverse("admin:campaigns_segment_add"),
    }


OK, NO = 200, 403
#: Expected GET status per page and role (None: a staff login in no group).
MATRIX = {
    #                       Support Marketer Manager Auditor None
    "member_list": (OK, OK, OK, OK, NO),
    "member_360": (OK, NO, OK, OK, NO),
    "adjust_form": (OK, NO, OK, NO, NO),
    "analytics": (NO, OK, OK, OK, NO),
    "liability": (NO, OK, OK, OK, NO),
    "liability_csv": (NO, NO, OK, OK, NO),
    "export_members": (NO, NO, OK, OK, NO),
    "export_ledger": (NO, NO, OK, OK, NO),
    "program_settings": (NO, NO, OK, OK, NO),
    "tier_view": (OK, OK, OK, OK, NO),
    "audit_log": (NO, NO, OK, OK, NO),
    "adjustment_requests": (OK, NO, OK, OK, NO),
    "import_new": (NO, NO, OK, NO, NO),
    "import_jobs": (NO, NO, OK, OK, NO),
    "staff_settings": (NO, NO, OK, OK, NO),
    "reward_list": (OK, OK, OK, OK, NO),
    "reward_add": (NO, NO, OK, NO, NO),
    "redemption_list": (OK, OK, OK, OK, NO),
    "voucher_list": (OK, OK, OK, OK, NO),
    "campaign_list": (NO, OK, OK, OK, NO),
    "campaign_add": (NO, OK, NO, NO, NO),
    "segment_add": (NO, OK, NO, NO, NO),
}


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=[r or "no-group" for r in ROLES])
def test_permission_matrix_for_pages(client, roles, member, role_index):
    role = ROLES[role_index]
    client.force_login(staff_in(role))
    urls = _urls(member)
    got = {name: client.get(url).status_code for name, url in urls.items()}
    expected = {name: statuses[role_index] for name, statuses in MATRIX.items()}
    assert got == expected


def test_customers_are_sent_to_the_login_page(client, roles, member, customer):
    client.force_login(customer)
    for url in _urls(member).values():
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response["Location"]


@pytest.mark.parametrize(
    ("role", "status"),
    [(SUPPORT, 403), (MARKETER, 403), (PROGRAM_MANAGER, 302), (AUDITOR, 403)],
)
def test_only_the_program_manager_changes_tiers(client, roles, role, status):
    tier = Tier.objects.order_by("rank").first()
    client.force_login(staff_in(role))
    response = client.post(
        reverse("admin:members_tier_change", args=[tier.pk]),
        {
            "name": tier.name,
            "rank": tier.rank,
            "threshold": "0",
            "earn_multiplier": "2.0",
            "perks": "",
            "colour": "#000000",
        },
    )
    assert response.status_code == status
    tier.refresh_from_db()
    assert (tier.earn_multiplier == 2) == (status == 302)


@pytest.mark.parametrize(
    ("role", "status", "posted"),
    [(SUPPORT, 302, True), (MARKETER, 403, False), (PROGRAM_MANAGER, 302, True), (AUDITOR, 403, False)],
)
def test_who_may_adjust_points(client, roles, member, role, status, posted):
    client.force_login(staff_in(role))
    response = client.post(
        reverse("staff:member_adjust", args=[member.pk]),
        {"points": "25", "reason": "Goodwill", "token": "t-1"},
    )
    assert response.status_code == status
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).exists() == posted


def test_groups_hold_exactly_their_permissions(roles):
    perms = {g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()} for g in roles.values()}
    assert "backoffice.adjust_points" in perms[SUPPORT]
    assert "backoffice.approve_adjustment" not in perms[SUPPORT]
    assert not any(p.startswith("members.change_") for p in perms[SUPPORT])
    assert "backoffice.adjust_points" not in perms[MARKETER]
    assert "backoffice.view_reports" in perms[MARKETER]
    assert {"members.change_programsettings", "members.change_tier", "backoffice.approve_adjustment"} <= perms[
        PROGRAM_MANAGER
    ]
    assert all(p.split(".")[1].startswith("view_") for p in perms[AUDITOR] - {"backoffice.export_data"})
    assert "backoffice.export_data" in perms[AUDITOR]


def test_setup_roles_is_idempotent_and_repairs_groups(roles):
    first = roles_setup()
    support = Group.objects.get(name=SUPPORT)
    support.permissions.clear()
    call_command("setup_roles", verbosity=0)
    assert roles_setup() == first
    assert Group.objects.filter(name__in=[SUPPORT, MARKETER, PROGRAM_MANAGER, AUDITOR]).count() == 4
    assert support.permissions.count() == len(first[SUPPORT])


def test_support_cannot_approve_requests(client, roles, support, member):
    request = AdjustmentRequest.objects.create(
        member=member, points=5000, reason="Big", requested_by=staff_in(PROGRAM_MANAGER), idempotency_key="k"
    )
    client.force_login(support)
    response = client.post(
        reverse("admin:backoffice_adjustmentrequest_changelist"),
        {"action": "approve_selected", "_selected_action": [request.pk], "index": 0},
    )
    request.refresh_from_db()
    assert request.status == AdjustmentRequest.Status.PENDING
    assert response.status_code in {200, 302}


@pytest.fixture
def voucher(member):
    points_give(member, 800)
    redemption = reward_redeem(member=member, reward=RewardFactory(points_cost=500), idempotency_key="redeem-1")
    return redemption.voucher


@pytest.mark.parametrize(
    ("role", "cancelled"),
    [(SUPPORT, True), (MARKETER, False), (PROGRAM_MANAGER, True), (AUDITOR, False), (None, False)],
)
def test_who_may_cancel_a_voucher_through_the_rewards_admin(client, roles, member, voucher, role, cancelled):
    client.force_login(staff_in(role))
    response = client.post(
        reverse("admin:rewards_voucher_changelist"),
        {"action": "cancel_vouchers", "_selected_action": [voucher.pk], "index": 0},
    )
    voucher.refresh_from_db()
    member.account.refresh_from_db()
    assert (voucher.state == Voucher.State.CANCELLED) is cancelled
    assert member.account.balance == (800 if cancelled else 300)
    if role in (MARKETER, AUDITOR):
        # They see the voucher list, but without the action: no action form at all.
        assert response.status_code == 200 and response.context["action_form"] is None


@pytest.mark.parametrize(
    ("role", "launched"),
    [(SUPPORT, False), (MARKETER, True), (PROGRAM_MANAGER, False), (AUDITOR, False)],
)
def test_only_the_marketer_runs_campaigns(client, roles, role, launched):
    campaign = campaign_factory(status=Campaign.Status.DRAFT)
    client.force_login(staff_in(role))
    client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "launch_selected", "_selected_action": [campaign.pk], "index": 0},
    )
    campaign.refresh_from_db()
    assert (campaign.status == Campaign.Status.ACTIVE) is launched


def test_the_auditor_cannot_change_rewards_or_campaigns(client, roles):
    reward = RewardFactory(name="Coffee")
    campaign = campaign_factory(name="Spring")
    client.force_login(staff_in(AUDITOR))
    page = client.get(reverse("admin:rewards_reward_change", args=[reward.pk]))
    assert page.status_code == 200 and "Coffee" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert client.post(reverse("admin:rewards_reward_change", args=[reward.pk]), {"name": "Tea"}).status_code == 403
    client.post(
        reverse("admin:rewards_reward_changelist"),
        {"action": "deactivate", "_selected_action": [reward.pk], "index": 0},
    )
    client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "pause_selected", "_selected_action": [campaign.pk], "index": 0},
    )
    assert client.post(reverse("admin:campaigns_campaign_change", args=[campaign.pk]), {"name": "X"}).status_code == 403
    reward.refresh_from_db()
    campaign.refresh_from_db()
    assert (reward.name, reward.is_active) == ("Coffee", True)
    assert (campaign.name, campaign.status) == ("Spring", Campaign.Status.ACTIVE)
    assert Reward.objects.count() == 1 and Campaign.objects.count() == 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/admin/members/apikey/", "/admin/integrations/apikey/"),
        ("/admin/members/webhookdelivery/3/change/?x=1", "/admin/integrations/webhookdelivery/3/change/?x=1"),
        ("/admin/members/adjustmentrequest/", "/admin/backoffice/adjustmentrequest/"),
        ("/admin/members/importjob/7/change/", "/admin/backoffice/importjob/7/change/"),
    ],
)
def test_admin_pages_of_moved_models_answer_at_their_old_address(client, old, new):
    for method in (client.get, client.post):
        response = method(old)
        assert response.status_code == 308  # method and body kept
        assert response["Location"] == new
    assert client.get("/admin/members/member/").status_code == 302  # members' own pages are not redirected
