"""Queues per kind of work, and the lock that keeps a second Celery beat from sending anything."""

from django.core.cache import cache

from loyalty_site import beat


def test_a_second_beat_waits_while_the_first_holds_the_lock():
    first, second = beat.BeatLock(ttl=60), beat.BeatLock(ttl=60)
    assert first.acquire() is True
    assert second.acquire() is False
    assert first.acquire() is True  # renewing its own lock
    first.release()
    assert second.acquire() is True
    assert first.acquire() is False


def test_an_expired_lock_is_taken_over(monkeypatch):
    first, second = beat.BeatLock(ttl=60), beat.BeatLock(ttl=60)
    first.acquire()
    cache.delete(beat.LOCK_KEY)  # what Redis does when the holder died and the TTL ran out
    assert second.acquire() is True and first.acquire() is False


def test_the_scheduler_sends_nothing_without_the_lock(monkeypatch):
    from loyalty_site.celery import app

    cache.add(beat.LOCK_KEY, "another-beat", timeout=60)
    sent = []
    monkeypatch.setattr(beat.PersistentScheduler, "tick", lambda self, *a, **k: sent.append(1) or 1.0)
    monkeypatch.setattr(beat.PersistentScheduler, "__init__", lambda self, *a, **k: None)
    scheduler = beat.SingleBeatScheduler(app=app)
    assert scheduler.tick() == beat.WAIT_INTERVAL and sent == []
    cache.delete(beat.LOCK_KEY)
    assert scheduler.tick() == 1.0 and sent == [1]


def test_tasks_are_routed_to_their_queues():
    from loyalty_site.celery import app

    router = app.amqp.router
    assert router.route({}, "integrations.tasks.webhook_deliver_task")["queue"].name == "webhooks"
    assert router.route({}, "campaigns.tasks.campaign_emails")["queue"].name == "emails"
    assert router.route({}, "members.tasks.expire_points")["queue"].name == "batch"
    assert router.route({}, "members.staff.import_job_run")["queue"].name == "imports"
    assert router.route({}, "loyalty_site.ping")["queue"].name == "celery"
