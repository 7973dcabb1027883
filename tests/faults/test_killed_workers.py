"""A real Celery worker killed with SIGKILL in the middle of the expiry run and of a 30,000-row import; another
worker receives the unacknowledged message again and finishes: nothing expires twice, no row is imported twice,
and the job completes."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from backoffice.models import ImportJob
from members.models import LedgerEntry, Member, PointsAccount, PointsLot, ProgramSettings, User
from members.services.imports import ImportedMember, members_import
from tests.faults.conftest import REDELIVERING, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXPIRING_ACCOUNTS = 10_000
IMPORT_ROWS = 30_000


def _ledger_matches_balances() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COUNT(*) FROM {PointsAccount._meta.db_table} a
            LEFT JOIN (SELECT account_id, SUM(points) AS total FROM {LedgerEntry._meta.db_table} GROUP BY account_id) e
              ON e.account_id = a.member_id
            WHERE a.balance <> COALESCE(e.total, 0)
            """  # noqa: S608 - table names from model metadata
        )
        assert cursor.fetchone()[0] == 0


def test_expiry_run_killed_mid_way_then_redelivered_expires_each_lot_once(start_worker, broker):
    for start in range(0, EXPIRING_ACCOUNTS, 5000):
        members_import(
            members=[ImportedMember(email=f"e{n}@example.com", opening_balance=10) for n in range(start, start + 5000)],
            description="Opening balance",
        )
    PointsLot.objects.update(expires_at=timezone.now() - timedelta(days=1))
    ProgramSettings.objects.update(expiry_policy=ProgramSettings.ExpiryPolicy.FIXED)
    expired = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE)

    # Small chunks (100 accounts per transaction) so that the kill lands between and inside many of them.
    first = start_worker("batch", POINTS_EXPIRY_BATCH_ACCOUNTS="100")
    result = broker.send_task("members.tasks.expire_points", queue="batch")
    wait_for(lambda: expired.count() >= 1000, timeout=120, interval=0.02, what="the expiry run to be under way")
    first.kill()
    done_before = expired.count()
    assert 0 < done_before < EXPIRING_ACCOUNTS, "the worker was not killed in the middle of the run"

    start_worker("batch", POINTS_EXPIRY_BATCH_ACCOUNTS="100", **REDELIVERING)
    result.get(timeout=180)  # the same message, run to its end by the second worker

    assert expired.count() == EXPIRING_ACCOUNTS
    assert not expired.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not PointsLot.objects.filter(remaining__gt=0).exists()
    assert not PointsAccount.objects.exclude(balance=0).exists()
    _ledger_matches_balances()


def test_import_killed_mid_way_resumes_after_its_last_committed_chunk(start_worker, broker):
    rows = "".join(f"i{n}@example.com,Imported,{n % 50}\n" for n in range(IMPORT_ROWS))
    name = default_storage.save(
        "imports/faults.csv", ContentFile(b"email,first_name,opening_balance\n" + rows.encode())
    )
    job = ImportJob.objects.create(kind=ImportJob.Kind.MEMBERS, dry_run=False, file=name)
    progress = ImportJob.objects.filter(pk=job.pk)

    first = start_worker("imports")
    broker.send_task("members.staff.import_job_run", args=[job.pk], queue="imports")
    wait_for(
        lambda: progress.filter(status=ImportJob.Status.RUNNING, written_rows__gte=3000).exists(),
        timeout=240,
        interval=0.05,
        what="the import to be writing",
    )
    first.kill()
    killed = progress.get()
    assert killed.status == ImportJob.Status.RUNNING and 0 < killed.written_rows < IMPORT_ROWS
    # The dead runner's heartbeat goes stale (IMPORT_HEARTBEAT_TIMEOUT=2 for the second worker), then the
    # redelivered message takes the job over.
    wait_for(lambda: progress.get().heartbeat_at < timezone.now() - timedelta(seconds=3), timeout=30, what="stale")
    start_worker("imports", IMPORT_HEARTBEAT_TIMEOUT="2", **REDELIVERING)
    wait_for(lambda: progress.exclude(status=ImportJob.Status.RUNNING).exists(), timeout=240, what="the import to end")

    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.message
    assert (job.total_rows, job.written_rows, job.processed_rows) == (IMPORT_ROWS, IMPORT_ROWS, IMPORT_ROWS)
    # Resumed, not redone: the rows of the chunks committed before the kill were not read again.
    assert (job.created_rows, job.skipped_rows) == (IMPORT_ROWS, 0)
    assert User.objects.filter(email__startswith="i", email__endswith="@example.com").count() == IMPORT_ROWS
    assert Member.objects.count() == IMPORT_ROWS
    openings = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.IMPORT)
    assert openings.values("idempotency_key").distinct().count() == openings.count()
    assert openings.count() == sum(1 for n in range(IMPORT_ROWS) if n % 50)
    _ledger_matches_balances()
