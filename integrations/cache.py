"""Django's Redis cache with one client per connection pool, built once per process (and thread), and the
per-process layer for the program's configuration (below).

Django's ``RedisCache`` builds a new ``redis.Redis`` client on every cache call, over a shared pool; a request
that reads the cache five times paid for five clients. This backend keeps the first one (a client is thread-safe:
it only borrows connections from its pool). Settings use it whenever ``CACHE_URL`` is ``redis://…``.
"""

import secrets
import threading
import time

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.db import transaction


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient


# --- The program's configuration, cached per process --------------------------------------------------------------
# Program settings, tiers, earning rules, plans, partners, webhook subscriptions, API keys and running campaigns are
# read on every purchase and change a few times a day. Each process keeps what it read in memory, under the shared
# configuration version it read then; every change anywhere draws a new version (``config_changed``), so every
# process reads again from its next request on. Within a request the version is read from the cache once: the
# API's throttle reads it in its own script (``config_version_seen``), other requests on first use. Outside a
# request (workers, commands) it is read on every use.

CONFIG_VERSION_KEY = "integrations:config-version"

_values: dict[str, tuple[object, int, float]] = {}
_request = threading.local()


def request_began(**signal_kwargs) -> None:
    _request.active, _request.version = True, None


def request_ended(**signal_kwargs) -> None:
    _request.active, _request.version = False, None


def config_version() -> int:
    """The shared configuration version as this request sees it (one cache read per request). A missing token
    (evicted, flushed) is drawn anew, which makes every process read its configuration again."""
    version = getattr(_request, "version", None)
    if version is not None:
        return version
    version = cache.get(CONFIG_VERSION_KEY)
    if version is None:
        cache.add(CONFIG_VERSION_KEY, secrets.randbits(62), None)
        version = cache.get(CONFIG_VERSION_KEY)
    config_version_seen(version)
    return version


def config_version_seen(version) -> None:
    """The version a request read along with something else (the throttle's script); None when it was missing."""
    if version is not None and getattr(_request, "active", False):
        _request.version = int(version)


def config_cached(name: str, load, timeout: float):
    """``load()``'s value, kept in this process under the current version and for ``timeout`` seconds at most.

    The value is shared by the process's threads: callers must not change it (they never did with the values
    unpickled per call, and nothing here does)."""
    entry = _values.get(name)
    now = time.monotonic()
    version = config_version()
    if entry is not None and entry[1] == version and entry[2] > now:
        return entry[0]
    # A load may create the row it reads (``get_or_create`` of the settings' one row, with its defaults): that is
    # no change anything else could have cached, so it draws no new version (which would drop every other value).
    _request.loading = True
    try:
        value = load()
    finally:
        _request.loading = False
    _values[name] = (value, version, now + timeout)
    return value


def config_changed(**signal_kwargs) -> None:
    """Every process reads its configuration again from its next request on. Called when the change is made and
    again when its transaction commits: a process that read the new version before the commit may have loaded
    the old rows under it."""
    if getattr(_request, "loading", False):
        return
    _version_draw()
    transaction.on_commit(_version_draw)


def config_local_clear() -> None:
    """Forget what this process holds and this thread's request state (tests: between tests, and to play another
    process)."""
    _values.clear()
    request_ended()


def _version_draw() -> None:
    version = secrets.randbits(62)
    cache.set(CONFIG_VERSION_KEY, version, None)
    _values.clear()
    config_version_seen(version)
