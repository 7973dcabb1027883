"""Program-rule admins save through their app's services, and every create, change and delete leaves a staff
audit row (actor, action, object, before/after) in the same transaction; so do reversals made from the admin and
member closures."""

from decimal import Decimal

import pytest
from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from backoffice.models import StaffAuditLog, StaffSettings
from campaigns.models import Campaign, Segment
from members import hooks
from members.models import EarningRule, LedgerEntry, Member, ProgramSettings, Tier
from members.services import member_close, points_adjust
from referrals.models import DisposableEmailDomain, ReferralProgram
from rewards.models import Reward
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    SuperUserFactory,
    TierFactory,
    campaign_factory,
    referral_program_set,
    segment_factory,
)

pytestmark = pytest.mark.django_db
Action = StaffAuditLog.Action


@pytest.fixture
def staff(client):
    user = SuperUserFactory()
    client.force_login(user)
    client.user = user
    return client


def form_data(client, url, **overrides) -> dict:
    """What the admin's change form at ``url`` would post unchanged, with ``overrides`` applied."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.FileField):
            continue  # nothing uploaded: the stored file stays
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
            continue
        data[name] = "" if value is None else value
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not False}


def saved(response):
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    return response


def log_of(obj_type: str, action: str, object_id=None) -> StaffAuditLog:
    logs = StaffAuditLog.objects.filter(object_type=obj_type, action=action)
    if object_id is not None:
        logs = logs.filter(object_id=str(object_id))
    return logs.get()


def delete(client, model_admin: str, pk):
    return client.post(reverse(f"admin:{model_admin}_delete", args=[pk]), {"post": "yes"})


def delete_selected(client, model_admin: str, pks):
    return client.post(
        reverse(f"admin:{model_admin}_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: list(pks), "post": "yes"},
    )


# --- rewards ----------------------------------------------------------------------------------------------------


def test_reward_create_change_delete_are_audited(staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    saved(
        staff.post(
            reverse("admin:rewards_reward_add"),
            {"kind": "free_product", "name": "Flat white", "slug": "flat-white", "points_cost": "250", "sort_order": 0},
        )
    )
    reward = Reward.objects.get(slug="flat-white")
    created = log_of("rewards.reward", Action.RULE_CREATED, reward.pk)
    assert created.actor == staff.user and created.before is None
    assert created.after["points_cost"] == 250 and created.after["name"] == "Flat white"

    url = reverse("admin:rewards_reward_change", args=[reward.pk])
    saved(staff.post(url, form_data(staff, url, points_cost="300")))
    assert Reward.objects.get(pk=reward.pk).points_cost == 300
    changed = log_of("rewards.reward", Action.RULE_CHANGED, reward.pk)
    assert changed.actor == staff.user
    assert (changed.before, changed.after) == ({"points_cost": 250}, {"points_cost": 300})

    saved(staff.post(url, form_data(staff, url)))  # nothing changed: nothing recorded
    assert StaffAuditLog.objects.filter(action=Action.RULE_CHANGED).count() == 1

    saved(delete(staff, "rewards_reward", reward.pk))
    assert not Reward.objects.filter(pk=reward.pk).exists()
    deleted = log_of("rewards.reward", Action.RULE_DELETED, reward.pk)
    assert deleted.actor == staff.user and deleted.before["name"] == "Flat white" and deleted.after is None


def test_reward_bulk_actions_are_audited(staff):
    first, second = RewardFactory(is_active=True), RewardFactory(is_active=True)
    changelist = reverse("admin:rewards_reward_changelist")
    staff.post(changelist, {"action": "deactivate", ACTION_CHECKBOX_NAME: [first.pk, second.pk]})
    assert not Reward.objects.filter(is_active=True).exists()
    logs = StaffAuditLog.objects.filter(action=Action.RULE_CHANGED, object_type="rewards.reward")
    assert sorted(logs.values_list("object_id", flat=True)) == sorted([str(first.pk), str(second.pk)])
    assert all(
        (log.before, log.after, log.actor) == ({"is_active": True}, {"is_active": False}, staff.user) for log in logs
    )

    staff.post(changelist, {"action": "duplicate", ACTION_CHECKBOX_NAME: [first.pk]})
    copy = Reward.objects.get(slug=f"{first.slug}-copy")
    created = log_of("rewards.reward", Action.RULE_CREATED, copy.pk)
    assert created.actor == staff.user and created.after["is_active"] is False

    saved(delete_selected(staff, "rewards_reward", [first.pk, second.pk]))
    assert not Reward.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert StaffAuditLog.objects.filter(action=Action.RULE_DELETED, object_type="rewards.reward").count() == 2


# --- tiers, earning rules, program settings ---------------------------------------------------------------------


def test_tier_create_change_delete_are_audited(staff):
    saved(
        staff.post(
            reverse("admin:members_tier_add"),
            {
                "name": "Diamond",
                "rank": 90,
                "threshold": "90000",
                "earn_multiplier": "3",
                "perks": "",
                "colour": "#88ccee",
            },
        )
    )
    tier = Tier.objects.get(name="Diamond")
    created = log_of("members.tier", Action.RULE_CREATED, tier.pk)
    assert created.actor == staff.user and created.after["threshold"] == "90000.00"

    url = reverse("admin:members_tier_change", args=[tier.pk])
    saved(staff.post(url, form_data(staff, url, threshold="95000")))
    changed = log_of("members.tier", Action.RULE_CHANGED, tier.pk)
    assert (changed.before, changed.after) == ({"threshold": "90000.00"}, {"threshold": "95000.00"})

    saved(delete(staff, "members_tier", tier.pk))
    assert not Tier.objects.filter(pk=tier.pk).exists()
    assert log_of("members.tier", Action.RULE_DELETED, tier.pk).before["name"] == "Diamond"


def test_tier_bulk_delete_is_audited_per_row(staff):
    tiers = [TierFactory(name="Tin", rank=91, threshold=91000), TierFactory(name="Zinc", rank=92, threshold=92000)]
    saved(delete_selected(staff, "members_tier", [tier.pk for tier in tiers]))
    assert not Tier.objects.filter(pk__in=[tier.pk for tier in tiers]).exists()
    deleted = StaffAuditLog.objects.filter(action=Action.RULE_DELETED, object_type="members.tier")
    assert sorted(deleted.values_list("object_repr", flat=True)) == ["Tin", "Zinc"]
    assert {log.actor for log in deleted} == {staff.user}


def test_a_failing_audit_rolls_the_change_back(staff, monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(hooks, "rule_changed", [*getattr(hooks, "rule_changed", []), refuse], raising=False)
    tier = Tier.objects.get(name="Silver")
    url = reverse("admin:members_tier_change", args=[tier.pk])
    data = form_data(staff, url, threshold="1234")
    with pytest.raises(RuntimeError, match="audit store down"):
        staff.post(url, data)
    assert Tier.objects.get(pk=tier.pk).threshold == tier.threshold
    assert not StaffAuditLog.objects.exists()


def test_earning_rule_create_change_delete_are_audited(staff):
    saved(
        staff.post(
            reverse("admin:members_earningrule_add"),
            {
                "name": "Tea x3",
                "kind": "category_multiplier",
                "is_active": "on",
                "priority": "10",
                "rate": "3",
                "category": "tea",
                "sku": "",
                "channel": "",
                "min_spend": "0",
            },
        )
    )
    rule = EarningRule.objects.get(name="Tea x3")
    assert log_of("members.earningrule", Action.RULE_CREATED, rule.pk).after["rate"] == "3.0000"

    url = reverse("admin:members_earningrule_change", args=[rule.pk])
    saved(staff.post(url, form_data(staff, url, is_active=False)))
    changed = log_of("members.earningrule", Action.RULE_CHANGED, rule.pk)
    assert (changed.actor, changed.before, changed.after) == (staff.user, {"is_active": True}, {"is_active": False})

    other = EarningRuleFactory()
    saved(delete_selected(staff, "members_earningrule", [rule.pk, other.pk]))
    assert not EarningRule.objects.filter(pk__in=[rule.pk, other.pk]).exists()
    assert StaffAuditLog.objects.filter(action=Action.RULE_DELETED, object_type="members.earningrule").count() == 2


def test_program_settings_change_is_audited(staff):
    url = reverse("admin:members_programsettings_change", args=[1])
    before = ProgramSettings.objects.get(pk=1).pending_days
    saved(staff.post(url, form_data(staff, url, pending_days=before + 3)))
    assert ProgramSettings.objects.get(pk=1).pending_days == before + 3
    log = log_of("members.programsettings", Action.RULE_CHANGED, 1)
    assert (log.actor, log.before, log.after) == (staff.user, {"pending_days": before}, {"pending_days": before + 3})


def test_program_settings_list_writes_nothing(staff):
    ProgramSettings.objects.all().delete()
    response = staff.get(reverse("admin:members_programsettings_changelist"))
    assert response.status_code == 302 and response.url == reverse("admin:members_programsettings_add")
    assert not ProgramSettings.objects.exists()


def test_staff_settings_change_is_audited(staff):
    StaffSettings.load()
    url = reverse("admin:backoffice_staffsettings_change", args=[1])
    saved(staff.post(url, form_data(staff, url, support_adjustment_limit="250")))
    assert StaffSettings.load().support_adjustment_limit == 250
    log = log_of("backoffice.staffsettings", Action.RULE_CHANGED, 1)
    assert (log.actor, log.before, log.after) == (
        staff.user,
        {"support_adjustment_limit": 500},
        {"support_adjustment_limit": 250},
    )


def test_the_services_audit_without_the_admin():
    """The audit row comes from the services, not from the admin: any caller leaves one."""
    from backoffice.services.staff import staff_settings_save
    from members.services.program import earning_rule_save, program_settings_save, tier_save

    actor = SuperUserFactory()
    tier = Tier.objects.get(name="Gold")
    tier.threshold = Decimal("4321")
    tier_save(tier=tier, actor=actor)
    rule = earning_rule_save(rule=EarningRule(name="Cake x2", kind="category_multiplier", rate=2), actor=actor)
    program = ProgramSettings.objects.get(pk=1)
    program.pending_days += 1
    program_settings_save(program=program, actor=actor)
    staff_settings = StaffSettings.load()
    staff_settings.support_adjustment_limit = 42
    staff_settings_save(staff_settings=staff_settings, actor=actor)
    logged = set(StaffAuditLog.objects.filter(actor=actor).values_list("object_type", "object_id", "action"))
    assert logged == {
        ("members.tier", str(tier.pk), Action.RULE_CHANGED),
        ("members.earningrule", str(rule.pk), Action.RULE_CREATED),
        ("members.programsettings", "1", Action.RULE_CHANGED),
        ("backoffice.staffsettings", "1", Action.RULE_CHANGED),
    }


# --- referrals --------------------------------------------------------------------------------------------------


def test_referral_program_change_is_audited(staff):
    referral_program_set(referrer_points=500)
    url = reverse("admin:referrals_referralprogram_change", args=[1])
    saved(staff.post(url, form_data(staff, url, referrer_points="750", check_velocity=False)))
    program = ReferralProgram.objects.get(pk=1)
    assert (program.referrer_points, program.check_velocity) == (750, False)
    log = log_of("referrals.referralprogram", Action.RULE_CHANGED, 1)
    assert log.actor == staff.user
    assert (log.before, log.after) == (
        {"check_velocity": True, "referrer_points": 500},
        {"check_velocity": False, "referrer_points": 750},
    )


def test_disposable_domain_add_and_delete_are_audited(staff):
    saved(staff.post(reverse("admin:referrals_disposableemaildomain_add"), {"domain": " @Spam.Example ", "note": ""}))
    domain = DisposableEmailDomain.objects.get(domain="spam.example")
    created = log_of("referrals.disposableemaildomain", Action.RULE_CREATED, domain.pk)
    assert created.actor == staff.user and created.after["domain"] == "spam.example"
    saved(delete(staff, "referrals_disposableemaildomain", domain.pk))
    assert not DisposableEmailDomain.objects.filter(pk=domain.pk).exists()
    assert log_of("referrals.disposableemaildomain", Action.RULE_DELETED, domain.pk).before["domain"] == "spam.example"


# --- campaigns --------------------------------------------------------------------------------------------------


def test_segment_create_change_delete_are_audited(staff):
    gold = Tier.objects.get(name="Gold")
    silver = Tier.objects.get(name="Silver")
    saved(
        staff.post(
            reverse("admin:campaigns_segment_add"),
            {
                "name": "Big spenders",
                "description": "",
                "base": "rules",
                "tiers": [gold.pk],
                "spend_period": "12m",
                "spend_min": "500",
                "marketing_consent": "",
            },
        )
    )
    segment = Segment.objects.get(name="Big spenders")
    assert list(segment.tiers.all()) == [gold]
    created = log_of("campaigns.segment", Action.RULE_CREATED, segment.pk)
    assert created.actor == staff.user
    assert created.after["tiers"] == [gold.pk] and created.after["spend_min"] == "500.00"

    url = reverse("admin:campaigns_segment_change", args=[segment.pk])
    saved(staff.post(url, form_data(staff, url, tiers=[gold.pk, silver.pk], spend_min="750")))
    segment.refresh_from_db()
    assert set(segment.tiers.all()) == {gold, silver} and segment.spend_min == Decimal("750")
    changed = log_of("campaigns.segment", Action.RULE_CHANGED, segment.pk)
    assert changed.before == {"spend_min": "500.00", "tiers": [gold.pk]}
    assert changed.after == {"spend_min": "750.00", "tiers": sorted([gold.pk, silver.pk])}

    saved(staff.post(url, form_data(staff, url)))
    assert StaffAuditLog.objects.filter(action=Action.RULE_CHANGED).count() == 1

    saved(delete(staff, "campaigns_segment", segment.pk))
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert log_of("campaigns.segment", Action.RULE_DELETED, segment.pk).before["name"] == "Big spenders"


def test_segment_bulk_delete_is_audited(staff):
    segments = [segment_factory(name="One"), segment_factory(name="Two")]
    saved(delete_selected(staff, "campaigns_segment", [segment.pk for segment in segments]))
    assert not Segment.objects.exists()
    assert StaffAuditLog.objects.filter(action=Action.RULE_DELETED, object_type="campaigns.segment").count() == 2


def test_campaign_delete_goes_through_the_service_and_is_audited(staff):
    draft = campaign_factory(status=Campaign.Status.DRAFT, name="Draft one")
    live = campaign_factory(name="Live one")
    assert delete(staff, "campaigns_campaign", live.pk).status_code == 403
    saved(delete(staff, "campaigns_campaign", draft.pk))
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Live one"]
    deleted = log_of("campaigns.campaign", Action.RULE_DELETED, draft.pk)
    assert deleted.actor == staff.user and deleted.before["status"] == Campaign.Status.DRAFT


def test_campaign_delete_service_refuses_a_launched_campaign(staff):
    from campaigns.exceptions import CampaignLocked
    from campaigns.services import campaign_delete

    live = campaign_factory(name="Live one")
    with pytest.raises(CampaignLocked):
        campaign_delete(campaign=live, actor=staff.user)
    assert Campaign.objects.filter(pk=live.pk).exists() and not StaffAuditLog.objects.exists()


# --- members: reversals and closures ----------------------------------------------------------------------------


def test_reversal_from_the_admin_is_audited(staff):
    member = MemberFactory()
    entry = points_adjust(member=member, points=40, reason="typo", actor=None)
    changelist = reverse("admin:members_ledgerentry_changelist")
    selection = {"action": "reverse_entries", ACTION_CHECKBOX_NAME: [entry.pk], "apply": "1", "reason": "wrong member"}
    assert staff.post(changelist, selection).status_code == 302
    staff.post(changelist, {**selection, "reason": "again"})  # already reversed: no second entry, no second row
    reversal = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REVERSAL)
    log = StaffAuditLog.objects.get(action="points_reversed")
    assert (log.actor, log.member, log.reason) == (staff.user, member, "wrong member")
    assert (log.object_type, log.object_id) == ("members.ledgerentry", str(reversal.pk))
    assert log.before == {"entry_id": entry.pk, "points": 40, "balance": 40}
    assert log.after == {"points": -40, "owed_delta": 0, "balance": 0}


def test_member_closure_is_audited(staff):
    member = MemberFactory()
    points_adjust(member=member, points=75, reason="welcome", actor=None)
    member_close(member=member, actor=staff.user)
    assert Member.objects.get(pk=member.pk).status == Member.Status.CLOSED
    log = StaffAuditLog.objects.get(action="member_closed")
    assert (log.actor, log.member, log.object_type, log.object_id) == (
        staff.user,
        member,
        "members.member",
        str(member.pk),
    )
    assert log.before == {"status": "active", "balance": 75, "pending": 0}
    assert log.after == {"status": "closed", "balance": 0, "pending": 0}
    assert log.object_repr == member.member_number  # no personal data in the log
    member_close(member=member, actor=staff.user)  # already closed: nothing more
    assert StaffAuditLog.objects.filter(action="member_closed").count() == 1


def test_a_member_closing_their_own_account_is_audited(client):
    member = MemberFactory(email="leaving@example.com")
    client.force_login(member.user)
    response = client.post(reverse("members:close"), {"password": "correct-horse-battery", "confirm": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    log = StaffAuditLog.objects.get(action="member_closed")
    assert (log.actor, log.member) == (member.user, member)
