"""Celery tasks of the staff console. The import task keeps the explicit name it always had, so a job queued
before an upgrade still runs after it."""

from celery import shared_task


@shared_task(name="members.staff.import_job_run", acks_late=True)
def import_job_run_task(job_id: int) -> str:
    """Run, or resume, an import. Acknowledged when it ends: a worker killed mid-run leaves the message to be
    delivered again (after the broker's visibility timeout), and the job resumes after its last committed chunk."""
    from backoffice.services.staff import import_job_run

    job = import_job_run(job_id=job_id)
    return job.status


@shared_task(acks_late=True)
def analytics_rollup_task() -> str:
    """Nightly (``CELERY_BEAT_SCHEDULE``): roll the analytics up through yesterday. Idempotent, so a retry or a
    second delivery only recomputes the same days."""
    from backoffice.services.rollups import analytics_rollup

    run = analytics_rollup()
    return f"{run.start}..{run.through}: {run.rows_changed} rows changed"
