from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignChange, Segment, SegmentMember
from tests.factories import MemberFactory, StaffUserFactory, campaign_factory, segment_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    client.user = user
    return client


def add_form(**overrides):
    now = timezone.localtime()
    data = {
        "name": "Double points weekend",
        "description": "",
        "kind": Campaign.Kind.MULTIPLIER,
        "starts_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=3)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "segment": "",
        "holdout_percent": "10",
        "multiplier": "2",
        "bonus_points": "0",
        "reward_note": "",
        "categories": "coffee, tea",
        "skus": "",
        "channels": "",
        "stores": "",
        "threshold_spend": "",
        "trigger": "",
        "trigger_count": "",
        "trigger_period": "",
        "stackable": "on",
        "priority": "100",
        "per_member_cap": "",
        "budget_points": "5000",
        "birthday_scope": "day",
        "audience_days": "",
        "tier_gap": "",
        "offer_days": "",
        "email_subject": "",
        "email_body": "",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_marketer_group_has_campaign_rights_but_cannot_adjust_points(marketer):
    user = marketer.user
    assert user.has_perm("campaigns.change_campaign") and user.has_perm("campaigns.report_campaign")
    assert user.has_perm("members.view_member") and not user.has_perm("members.change_member")
    assert not user.has_perm("backoffice.adjust_points")
    member = MemberFactory()
    url = reverse("admin:members_member_change", args=[member.pk])
    assert marketer.post(url, {"marketing_consent": "on"}).status_code == 403
    # The audit trail is read-only for everyone, whatever the group's model permissions say.
    campaign = campaign_factory()
    change = CampaignChange.objects.create(campaign=campaign, action="update")
    assert marketer.get(reverse("admin:campaigns_campaignchange_changelist")).status_code == 200
    url = reverse("admin:campaigns_campaignchange_delete", args=[change.pk])
    assert marketer.post(url, {"post": "yes"}).status_code == 403
    assert CampaignChange.objects.filter(pk=change.pk).exists()


def test_marketer_creates_a_campaign_through_the_admin_and_it_is_audited(marketer):
    response = marketer.post(reverse("admin:campaigns_campaign_add"), add_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.DRAFT and campaign.created_by == marketer.user
    assert campaign.categories == ["coffee", "tea"] and campaign.budget_points == 5000
    assert CampaignChange.objects.get(campaign=campaign).action == "create"


def test_admin_form_shows_domain_errors(marketer):
    data = add_form(ends_at_0=add_form()["starts_at_0"], ends_at_1="00:00:00", email_body="{% if %}")
    response = marketer.post(reverse("admin:campaigns_campaign_add"), data)
    assert response.status_code == 200
    assert not Campaign.objects.exists()
    data = add_form(channels="carrier-pigeon")
    response = marketer.post(reverse("admin:campaigns_campaign_add"), data)
    assert "Unknown channel" in response.content.decode()


def test_change_page_shows_audience_and_status_buttons(marketer):
    MemberFactory.create_batch(3)
    campaign = campaign_factory(status=Campaign.Status.DRAFT, holdout_percent=0)
    response = marketer.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    body = response.content.decode()
    assert "3 members (0 in the holdout group, 3 get the campaign)" in body
    assert reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"]) in body
    assert reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "pause"]) not in body


def test_launch_button_and_frozen_rules(marketer):
    campaign = campaign_factory(status=Campaign.Status.DRAFT, starts_at=None, ends_at=None)
    url = reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"])
    assert marketer.get(url).status_code == 405
    response = marketer.post(url)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE
    assert CampaignChange.objects.filter(campaign=campaign, action="launch", actor=marketer.user).exists()
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    form = marketer.get(change_url).context["adminform"].form
    assert set(form.fields) == {"name", "description", "budget_points"}
    response = marketer.post(
        change_url,
        {
            "name": "Renamed",
            "description": "",
            "budget_points": "",
            "multiplier": "9",
            **{k: v for k, v in add_form().items() if k.startswith("changes-")},
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Renamed" and campaign.multiplier == Decimal("2")
    # An invalid move is reported, not raised.
    response = marketer.post(reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "resume"]), follow=True)
    assert "cannot be resumed" in response.content.decode()


def test_copy_and_bulk_actions(marketer):
    first = campaign_factory(status=Campaign.Status.ACTIVE)
    second = campaign_factory(status=Campaign.Status.ACTIVE)
    response = marketer.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "pause_selected", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    assert set(Campaign.objects.values_list("status", flat=True)) == {Campaign.Status.PAUSED}
    response = marketer.post(reverse("admin:campaigns_campaign_copy", args=[first.pk]))
    copy = Campaign.objects.get(copied_from=first)
    assert response.url == reverse("admin:campaigns_campaign_change", args=[copy.pk])
    response = marketer.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "preview_audience", "_selected_action": [first.pk]},
        follow=True,
    )
    assert "members, 0 in the holdout group" in response.content.decode()


def test_changelist_says_budget_exhausted(marketer):
    campaign_factory(name="Spent", budget_points=100, points_awarded=100)
    body = marketer.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert "Budget exhausted" in body and "budget exhausted" in body


def test_segment_csv_upload_in_the_admin(marketer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    members = MemberFactory.create_batch(2)
    segment = segment_factory(base=Segment.Base.LIST_ONLY)
    upload = SimpleUploadedFile("list.csv", "\n".join(m.member_number for m in members).encode() + b"\nnobody@x.test\n")
    response = marketer.post(
        reverse("admin:campaigns_segment_upload", args=[segment.pk]), {"file": upload, "excluded": "0"}, follow=True
    )
    assert "2 members listed (2 new); 1 rows not found: nobody@x.test" in response.content.decode()
    assert SegmentMember.objects.filter(segment=segment, excluded=False).count() == 2
    body = marketer.get(reverse("admin:campaigns_segment_change", args=[segment.pk])).content.decode()
    assert "2 active members" in body


def test_a_new_campaign_starts_by_choosing_its_kind(marketer):
    page = marketer.get(reverse("admin:campaigns_campaign_add"))
    body = page.content.decode()
    assert page.status_code == 200 and "adminform" not in page.context
    for value, label in Campaign.Kind.choices:
        assert f'href="?kind={value}"' in body and str(label) in body


@pytest.mark.parametrize(
    ("kind", "shown", "hidden"),
    [
        (
            Campaign.Kind.MULTIPLIER,
            {"multiplier", "categories", "stackable"},
            {"birthday_scope", "email_body", "tier_gap"},
        ),
        (Campaign.Kind.BIRTHDAY, {"bonus_points", "reward", "birthday_scope"}, {"multiplier", "trigger", "email_body"}),
        (Campaign.Kind.TIER_NEAR, {"tier_gap", "email_subject", "email_body"}, {"multiplier", "bonus_points", "skus"}),
    ],
)
def test_the_form_shows_only_the_fields_of_the_chosen_kind(marketer, kind, shown, hidden):
    page = marketer.get(reverse("admin:campaigns_campaign_add"), {"kind": kind})
    fields = set(page.context["adminform"].form.fields)
    assert shown <= fields and not hidden & fields
    assert f"Kind: <strong>{Campaign.Kind(kind).label}</strong>" in page.content.decode()


def test_email_kinds_explain_the_placeholders_and_preview_the_saved_email(marketer):
    page = marketer.get(reverse("admin:campaigns_campaign_add"), {"kind": Campaign.Kind.WINBACK})
    assert "{{ first_name }}" in page.context["adminform"].form.fields["email_body"].help_text
    data = add_form(
        kind=Campaign.Kind.WINBACK,
        multiplier="1",
        bonus_points="200",
        audience_days="60",
        offer_days="14",
        email_subject="We miss you, {{ first_name }}",
        email_body="You have {{ balance }} points. {{ offer }}.",
        _continue="1",
    )
    response = marketer.post(reverse("admin:campaigns_campaign_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.kind == Campaign.Kind.WINBACK and campaign.categories == ["coffee", "tea"]
    body = marketer.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "We miss you, Alex" in body and "You have 1250 points. 200 bonus points on your next purchase" in body
    assert "{{ first_name }}" not in body.split('class="email-preview"')[1].split("</div>")[0]


def test_a_drafts_kind_is_fixed_and_other_kinds_fields_are_not_saved(marketer):
    data = add_form(kind=Campaign.Kind.BIRTHDAY, bonus_points="100", multiplier="3", tier_gap="50")
    assert marketer.post(reverse("admin:campaigns_campaign_add"), data).status_code == 302
    campaign = Campaign.objects.get()
    # Fields the birthday form does not have keep their defaults whatever was posted.
    assert (campaign.bonus_points, campaign.multiplier, campaign.tier_gap) == (100, Decimal("1"), None)
    page = marketer.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert "kind" not in page.context["adminform"].form.fields
