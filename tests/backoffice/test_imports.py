"""CSV imports: the dry run reports every row's error and writes nothing; re-importing changes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.urls import reverse

from backoffice.models import ImportJob
from backoffice.services.staff import import_job_create
from members.models import LedgerEntry, Member, PointsAccount, PointsLot, Purchase, User
from rewards.models import PartnerCode, Reward
from tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def run(actor, kind, text, *, dry_run, capture, source_name="till"):
    upload = SimpleUploadedFile("file.csv", text.encode(), content_type="text/csv")
    with capture(execute=True):
        job = import_job_create(kind=kind, file=upload, dry_run=dry_run, actor=actor, source_name=source_name)
    job.refresh_from_db()
    return job


def counts():
    return (User.objects.count(), Member.objects.count(), LedgerEntry.objects.count(), Purchase.objects.count())


BAD_MEMBERS = """email,first_name,last_name,birthday,marketing_consent,opening_balance
not-an-email,A,B,,no,10
ok@example.com,Ok,Person,1990-02-03,yes,100
bad@example.com,Bad,Row,03/02/1990,maybe,-5
OK@example.com,Dup,Licate,,,
"""


def test_member_dry_run_reports_every_rows_errors_and_writes_nothing(manager, django_capture_on_commit_callbacks):
    before = counts()
    job = run(manager, "members", BAD_MEMBERS, dry_run=True, capture=django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.DONE
    assert (job.total_rows, job.processed_rows) == (4, 4)
    assert [(e["row"], e["field"]) for e in job.errors] == [
        (2, "email"),
        (4, "birthday"),
        (4, "marketing_consent"),
        (4, "opening_balance"),
        (5, "email"),
    ]
    assert job.error_count == 5
    assert counts() == before


def test_a_real_run_with_errors_writes_nothing(manager, django_capture_on_commit_callbacks):
    before = counts()
    job = run(manager, "members", BAD_MEMBERS, dry_run=False, capture=django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.FAILED and job.error_count == 5
    assert "Nothing was written" in job.message
    assert counts() == before


def test_missing_columns_are_reported(manager, django_capture_on_commit_callbacks):
    job = run(manager, "purchases", "member,sku\nM1,X\n", dry_run=True, capture=django_capture_on_commit_callbacks)
    assert {e["field"] for e in job.errors} == {"external_id", "occurred_at", "quantity", "unit_price"}


GOOD_MEMBERS = """email,first_name,last_name,phone,birthday,marketing_consent,opening_balance
pat@example.com,Pat,Lee,,,,50
new.one@example.com,New,One,+31 6 1234,1985-07-01,yes,100
new.two@example.com,New,Two,,,no,0
"""


def _invariants_hold():
    for account in PointsAccount.objects.all():
        entries = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("points"))["s"] or 0
        lots = PointsLot.objects.filter(account=account, is_pending=False).aggregate(s=Sum("remaining"))["s"] or 0
        assert account.balance == entries == lots


def test_member_import_creates_members_with_opening_balances_once(manager, member, django_capture_on_commit_callbacks):
    job = run(manager, "members", GOOD_MEMBERS, dry_run=False, capture=django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.DONE, job.message
    assert (job.created_rows, job.skipped_rows, job.processed_rows) == (3, 0, 3)
    one = Member.objects.select_related("user", "account", "tier").get(user__email="new.one@example.com")
    assert (one.user.first_name, one.phone, one.marketing_consent, str(one.birthday)) == (
        "New",
        "+31 6 1234",
        True,
        "1985-07-01",
    )
    assert one.enrollment_channel == "import" and one.tier.name == "Bronze"
    assert not one.user.has_usable_password()
    assert one.account.balance == 100 and one.account.lifetime_earned == 100
    assert one.tier_history.count() == 1
    member.account.refresh_from_db()
    assert member.account.balance == 50
    entry = LedgerEntry.objects.get(account_id=one.pk)
    assert (entry.kind, entry.idempotency_key) == (LedgerEntry.Kind.IMPORT, "import:opening:new.one@example.com")
    assert PointsLot.objects.get(entry=entry).expires_at is not None
    _invariants_hold()

    before = counts()
    again = run(manager, "members", GOOD_MEMBERS, dry_run=False, capture=django_capture_on_commit_callbacks)
    assert again.status == ImportJob.Status.DONE
    assert (again.created_rows, again.skipped_rows) == (0, 3)
    assert counts() == before
    _invariants_hold()


PURCHASES = """external_id,member,occurred_at,sku,quantity,unit_price,category,channel,store
T-1,{number},2024-03-01T10:00:00+01:00,COF,2,7.50,coffee,in_store,Utrecht
T-1,{number},2024-03-01T10:00:00+01:00,CAKE,1,3.00,bakery,in_store,Utrecht
T-2,pat@example.com,2024-03-05,TEA,1,4.00,tea,online,web
"""


def test_purchase_back_fill_is_idempotent(manager, member, django_capture_on_commit_callbacks):
    text = PURCHASES.format(number=member.member_number)
    dry = run(manager, "purchases", text, dry_run=True, capture=django_capture_on_commit_callbacks)
    assert dry.status == ImportJob.Status.DONE and dry.errors == [] and not Purchase.objects.exists()

    job = run(manager, "purchases", text, dry_run=False, capture=django_capture_on_commit_callbacks, source_name="pos")
    assert job.status == ImportJob.Status.DONE, job.message
    assert (job.created_rows, job.processed_rows) == (2, 3)
    first = Purchase.objects.get(external_id="T-1")
    assert first.source == "import:pos" and first.total == 18 and first.lines.count() == 2
    entries = LedgerEntry.objects.count()

    again = run(
        manager, "purchases", text, dry_run=False, capture=django_capture_on_commit_callbacks, source_name="pos"
    )
    assert (again.created_rows, again.skipped_rows) == (0, 2)
    assert Purchase.objects.count() == 2 and LedgerEntry.objects.count() == entries


def test_purchase_dry_run_reports_unknown_members_and_bad_lines(manager, member, django_capture_on_commit_callbacks):
    text = """external_id,member,occurred_at,sku,quantity,unit_price
A,M000000000,2024-03-01,COF,1,2.00
B,pat@example.com,yesterday,COF,0,-1
C,pat@example.com,2099-01-01,COF,1,1.234
A,pat@example.com,2024-03-01,COF,1,2.00
"""
    job = run(manager, "purchases", text, dry_run=True, capture=django_capture_on_commit_callbacks)
    assert [(e["row"], e["field"]) for e in job.errors] == [
        (2, "member"),
        (3, "occurred_at"),
        (3, "quantity"),
        (3, "unit_price"),
        (4, "occurred_at"),
        (4, "unit_price"),
        (5, "external_id"),
    ]
    assert not Purchase.objects.exists()


def partner_reward(slug):
    return RewardFactory(kind=Reward.Kind.PARTNER, slug=slug, value=None, partner_name="Cinema", stock=0)


def test_code_pool_dry_run_reports_row_errors_and_writes_nothing(manager, django_capture_on_commit_callbacks):
    partner_reward("cinema")
    RewardFactory(slug="five-off")
    text = "reward,code\ncinema,AAA\nnope,BBB\ncinema,\ncinema,AAA\nfive-off,CCC\n,DDD\ncinema," + "X" * 101 + "\n"
    job = run(manager, "codes", text, dry_run=True, capture=django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.DONE
    assert [(e["row"], e["field"]) for e in job.errors] == [
        (3, "reward"),  # unknown slug
        (4, "code"),  # empty code
        (5, "code"),  # repeated in the file
        (6, "reward"),  # not a partner reward
        (7, "reward"),  # no slug
        (8, "code"),  # too long
    ]
    assert not PartnerCode.objects.exists()
    job = run(manager, "codes", text, dry_run=False, capture=django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.FAILED and not PartnerCode.objects.exists()


def test_code_pool_import_adds_codes_and_stock_and_a_reimport_adds_nothing(manager, django_capture_on_commit_callbacks):
    cinema, spa = partner_reward("cinema"), partner_reward("spa")
    PartnerCode.objects.create(reward=spa, code="S0")
    text = "reward,code\ncinema,C1\ncinema,C2\nspa,S0\nspa,S1\nspa,C1\n"
    job = run(manager, "codes", text, dry_run=False, capture=django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.DONE and job.error_count == 0
    assert (job.created_rows, job.skipped_rows) == (4, 1)
    assert sorted(cinema.partner_codes.values_list("code", flat=True)) == ["C1", "C2"]
    assert sorted(spa.partner_codes.values_list("code", flat=True)) == ["C1", "S0", "S1"]
    cinema.refresh_from_db()
    spa.refresh_from_db()
    assert (cinema.stock, spa.stock) == (2, 2)

    again = run(manager, "codes", text, dry_run=False, capture=django_capture_on_commit_callbacks)
    assert again.status == ImportJob.Status.DONE and (again.created_rows, again.skipped_rows) == (0, 5)
    assert PartnerCode.objects.count() == 5
    cinema.refresh_from_db()
    assert cinema.stock == 2


def test_import_pages_upload_show_progress_and_errors(client, manager, django_capture_on_commit_callbacks):
    client.force_login(manager)
    new_page = client.get(reverse("staff:import_new"))
    assert new_page.status_code == 200 and {"kind", "file", "dry_run"} <= set(new_page.context["form"].fields)
    upload = SimpleUploadedFile("m.csv", BAD_MEMBERS.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("staff:import_new"), {"kind": "members", "file": upload, "source_name": "till", "dry_run": "on"}
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:backoffice_importjob_change", args=[job.pk]
    )
    page = client.get(response["Location"]).content.decode()
    assert (
        'role="progressbar" aria-label="Import progress"' in page
        and "5 errors" in page
        and 'http-equiv="refresh"' not in page
    )
    report = b"".join(client.get(reverse("staff:import_errors", args=[job.pk])).streaming_content).decode()
    assert report.splitlines()[0] == "row,field,message" and len(report.splitlines()) == 6


def test_clean_dry_run_can_be_run_for_real(client, manager, django_capture_on_commit_callbacks):
    job = run(
        manager,
        "members",
        GOOD_MEMBERS.replace("pat@", "sam@"),
        dry_run=True,
        capture=django_capture_on_commit_callbacks,
    )
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff:import_run", args=[job.pk]))
    assert response.status_code == 302
    real = ImportJob.objects.get(dry_run=False)
    assert real.status == ImportJob.Status.DONE and real.created_rows == 3
    assert real.file_sha256 == job.file_sha256


def test_running_job_page_refreshes_itself(client, manager):
    job = ImportJob.objects.create(
        kind="members",
        file="imports/x.csv",
        status=ImportJob.Status.RUNNING,
        total_rows=10,
        processed_rows=4,
        created_by=manager,
    )
    client.force_login(manager)
    page = client.get(reverse("admin:backoffice_importjob_change", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and 'aria-valuenow="40"' in page


def test_a_members_import_page_does_not_mention_a_purchase_source(client, manager, django_capture_on_commit_callbacks):
    members_job = run(manager, "members", BAD_MEMBERS, dry_run=True, capture=django_capture_on_commit_callbacks)
    client.force_login(manager)
    page = client.get(reverse("admin:backoffice_importjob_change", args=[members_job.pk]))
    assert page.status_code == 200 and "Source name" not in page.content.decode()
