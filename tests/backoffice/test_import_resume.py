"""Issue 16, item 16: a killed import resumes after its last committed chunk, when its task is delivered again or
staff resume it; staff can cancel a stuck job; the broker's visibility timeout outlasts the longest task."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from backoffice import imports
from backoffice.models import ImportJob, StaffAuditLog
from backoffice.services.staff import ImportJobNotResumable, import_job_cancel, import_job_create, import_job_resume
from backoffice.tasks import import_job_run_task
from loyalty_site.celery import app
from members.models import LedgerEntry, Member

pytestmark = pytest.mark.django_db

ROWS = 35


@pytest.fixture(autouse=True)
def _small_chunks(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)


class WorkerKilled(BaseException):
    """What SIGKILL does to a run: it stops mid-chunk, and no ``except Exception`` sees it."""


def members_csv(rows=ROWS) -> str:
    return "email,opening_balance\n" + "".join(f"m{n}@example.com,{n + 1}\n" for n in range(rows))


def _job(actor, capture) -> ImportJob:
    upload = SimpleUploadedFile("members.csv", members_csv().encode(), content_type="text/csv")
    with capture(execute=False):
        return import_job_create(kind="members", file=upload, dry_run=False, actor=actor)


def _killed_in_chunk(monkeypatch, number: int, error=WorkerKilled):
    real = imports.MemberImporter.write_chunk
    calls = {"n": 0}

    def write_chunk(self, units):
        calls["n"] += 1
        created = real(self, units)
        if calls["n"] == number:
            raise error("killed after writing, before the chunk committed")
        return created

    monkeypatch.setattr(imports.MemberImporter, "write_chunk", write_chunk)


def _silent_for_a_while(job):
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=30))


def _all_imported_once():
    assert Member.objects.count() == ROWS
    openings = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.IMPORT)
    assert openings.count() == ROWS
    assert sorted(openings.values_list("points", flat=True)) == list(range(1, ROWS + 1))


def test_a_redelivered_task_resumes_a_killed_job_after_its_last_committed_chunk(
    manager, monkeypatch, django_capture_on_commit_callbacks
):
    job = _job(manager, django_capture_on_commit_callbacks)
    _killed_in_chunk(monkeypatch, 3)
    with pytest.raises(WorkerKilled):
        import_job_run_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.written_rows, Member.objects.count()) == (ImportJob.Status.RUNNING, 20, 20)
    monkeypatch.undo()
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)

    # Delivered again while its runner could still be alive: nothing happens.
    assert import_job_run_task.apply(args=[job.pk]).get() == ImportJob.Status.RUNNING
    assert Member.objects.count() == 20
    # Once the runner has been silent for longer than IMPORT_HEARTBEAT_TIMEOUT, the next delivery resumes it.
    _silent_for_a_while(job)
    assert import_job_run_task.apply(args=[job.pk]).get() == ImportJob.Status.DONE
    job.refresh_from_db()
    assert (job.written_rows, job.processed_rows, job.created_rows, job.skipped_rows) == (ROWS, ROWS, ROWS, 0)
    _all_imported_once()


def test_a_job_killed_while_validating_validates_again_and_completes(
    manager, monkeypatch, django_capture_on_commit_callbacks
):
    job = _job(manager, django_capture_on_commit_callbacks)
    real = imports.MemberImporter.validate_chunk

    def killed(self, units):
        real(self, units)
        raise WorkerKilled()

    monkeypatch.setattr(imports.MemberImporter, "validate_chunk", killed)
    with pytest.raises(WorkerKilled):
        import_job_run_task.apply(args=[job.pk])
    monkeypatch.setattr(imports.MemberImporter, "validate_chunk", real)
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.VALIDATING
    _silent_for_a_while(job)
    assert import_job_run_task.apply(args=[job.pk]).get() == ImportJob.Status.DONE
    _all_imported_once()


def test_staff_resume_a_stuck_job_from_its_page(client, manager, monkeypatch, django_capture_on_commit_callbacks):
    job = _job(manager, django_capture_on_commit_callbacks)
    _killed_in_chunk(monkeypatch, 2)
    with pytest.raises(WorkerKilled):
        import_job_run_task.apply(args=[job.pk])
    monkeypatch.undo()
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)
    client.force_login(manager)
    page_url = reverse("admin:backoffice_importjob_change", args=[job.pk])

    # While the runner may be alive the page offers cancel, not resume, and a resume is refused.
    page = client.get(page_url).content.decode()
    assert reverse("staff:import_resume", args=[job.pk]) not in page
    assert reverse("staff:import_cancel", args=[job.pk]) in page
    with pytest.raises(ImportJobNotResumable):
        import_job_resume(job=job, actor=manager)

    _silent_for_a_while(job)
    page = client.get(page_url).content.decode()
    assert "No sign of life" in page and reverse("staff:import_resume", args=[job.pk]) in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff:import_resume", args=[job.pk]), follow=True)
    assert "Import resumed" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.created_rows == ROWS
    _all_imported_once()
    assert StaffAuditLog.objects.filter(action=StaffAuditLog.Action.IMPORT_RESUMED, actor=manager).count() == 1


def test_a_job_that_failed_on_a_database_error_can_be_resumed(manager, monkeypatch, django_capture_on_commit_callbacks):
    job = _job(manager, django_capture_on_commit_callbacks)
    _killed_in_chunk(monkeypatch, 2, error=OperationalError)
    import_job_run_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and job.written_rows == 10 and job.can_resume_after_failure
    monkeypatch.undo()
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)
    with django_capture_on_commit_callbacks(execute=True):
        import_job_resume(job=job, actor=manager)
    job.refresh_from_db()
    assert (job.status, job.created_rows, job.skipped_rows) == (ImportJob.Status.DONE, ROWS, 0)
    _all_imported_once()


def test_staff_cancel_a_running_job_and_its_runner_stops_before_the_next_chunk(
    client, manager, monkeypatch, django_capture_on_commit_callbacks
):
    job = _job(manager, django_capture_on_commit_callbacks)
    real = imports.MemberImporter.parse
    client.force_login(manager)
    pressed = []

    def cancelled_after_the_first_chunk(self, unit):
        # Staff press "Cancel" (in another request) while the runner reads the second chunk.
        if self.job.status == ImportJob.Status.RUNNING and self.job.written_rows == 10 and not pressed:
            pressed.append(client.post(reverse("staff:import_cancel", args=[job.pk])))
        return real(self, unit)

    monkeypatch.setattr(imports.MemberImporter, "parse", cancelled_after_the_first_chunk)
    import_job_run_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    assert "Cancelled by" in job.message
    assert job.written_rows == 10 and Member.objects.count() == 10
    with pytest.raises(ImportJobNotResumable):
        import_job_cancel(job=job, actor=manager)
    assert StaffAuditLog.objects.filter(action=StaffAuditLog.Action.IMPORT_CANCELLED).count() == 1


def test_only_import_staff_may_resume_or_cancel(client, support, manager, django_capture_on_commit_callbacks):
    job = _job(manager, django_capture_on_commit_callbacks)
    client.force_login(support)
    assert client.post(reverse("staff:import_cancel", args=[job.pk])).status_code in {302, 403}
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.QUEUED


def test_the_visibility_timeout_outlasts_the_longest_task(settings):
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit
    for task in app.tasks.values():
        assert (task.time_limit or app.conf.task_time_limit) < app.conf.broker_transport_options["visibility_timeout"]
