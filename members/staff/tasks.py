"""Celery tasks of the staff console (listed in ``CELERY_IMPORTS``: autodiscovery only finds ``<app>.tasks``)."""

from celery import shared_task


@shared_task(name="members.staff.import_job_run")
def import_job_run_task(job_id: int) -> str:
    from members.services.staff import import_job_run

    job = import_job_run(job_id=job_id)
    return job.status
