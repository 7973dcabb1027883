"""One Celery beat at a time: a lock in the shared cache, taken with ``SET NX EX`` and renewed while held.

``celery -A loyalty_site beat`` uses ``SingleBeatScheduler`` (``CELERY_BEAT_SCHEDULER``). On every tick it takes
or renews the lock ``beat:lock`` (the cache's ``add``, which on Redis is ``SET key token NX EX ttl``); a beat that
does not hold it sends nothing and asks again a few seconds later. If the holder dies, its lock expires after
``BEAT_LOCK_TTL`` seconds (60) and the waiting beat takes over, so a schedule is late by at most that much.
The cache must be shared by every node (``CACHE_URL`` on Redis): with the local-memory cache of development
each process has its own lock.
"""

import logging
import uuid

from celery.beat import PersistentScheduler
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("loyalty.beat")

LOCK_KEY = "beat:lock"
#: While waiting for the lock, ask again this often (seconds).
WAIT_INTERVAL = 5.0


class BeatLock:
    """The lock's logic, apart from Celery so it can be tested: ``acquire()`` is true while this holder has it."""

    def __init__(self, *, ttl: int, key: str = LOCK_KEY, backend=None, token: str | None = None):
        self.ttl, self.key = ttl, key
        self.cache = backend or cache
        self.token = token or uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lock if free, or renew it if this holder has it. Renew well inside the TTL (every tick)."""
        if self.cache.add(self.key, self.token, timeout=self.ttl):
            return True
        if self.cache.get(self.key) == self.token:
            # Ours: push the expiry out again. (Not atomic with the read; the holder renews every few seconds
            # against a TTL of a minute, so the key cannot have expired and been taken in between.)
            self.cache.touch(self.key, timeout=self.ttl)
            return True
        return False

    def release(self) -> None:
        if self.cache.get(self.key) == self.token:
            self.cache.delete(self.key)


class SingleBeatScheduler(PersistentScheduler):
    """Celery's file-backed scheduler that only sends while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.lock = BeatLock(ttl=getattr(settings, "BEAT_LOCK_TTL", 60))
        self._held = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        held = self.lock.acquire()
        if held != self._held:
            logger.info("beat lock %s", "taken" if held else "held by another beat: waiting")
            self._held = held
        if not held:
            return WAIT_INTERVAL
        return min(super().tick(*args, **kwargs), self.lock.ttl / 3)

    def close(self):
        self.lock.release()
        super().close()
