"""Rate limits per API key, and the shared configuration version (keys included) read in the same round trip.

On Redis the throttle is one script call: DRF's sliding window (a list of request times, newest first, pruned to
the window) checked and recorded atomically, plus a read of ``API_KEYS_VERSION_CACHE_KEY`` that the base view
uses to confirm a key this process had cached (``integrations.services.api_key_current``). Other caches (local
memory in development and tests) take DRF's own path and a plain read of the version.
"""

from django.core.cache import cache as default_cache
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from ..cache import config_version_seen
from ..models import APIKey
from ..services import API_KEYS_VERSION_CACHE_KEY, api_keys_version

#: KEYS: the history list, the version key. ARGV: now, window seconds, requests allowed.
#: Returns {allowed (0/1), the oldest time still in the window or false, the version or false}.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
while true do
  local last = redis.call('LINDEX', KEYS[1], -1)
  if not last or tonumber(last) > now - window then break end
  redis.call('RPOP', KEYS[1])
end
local allowed = 0
if redis.call('LLEN', KEYS[1]) < limit then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(window))
  allowed = 1
end
return {allowed, redis.call('LINDEX', KEYS[1], -1) or false, redis.call('GET', KEYS[2]) or false}
"""


class APIKeyRateThrottle(SimpleRateThrottle):
    """One budget per API key (``API_KEY_THROTTLE_RATE``); members' sessions get the same rate per user."""

    scope = "api_key"
    _scripts: dict[int, object] = {}

    def get_cache_key(self, request, view):
        if isinstance(request.auth, APIKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        redis_cache = _redis(self.cache)
        if redis_cache is None or self.rate is None:
            request.api_keys_version = api_keys_version() if isinstance(request.auth, APIKey) else None
            return self.rate is None or super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        client = redis_cache._cache.get_client(write=True)
        script = self._scripts.get(id(client.connection_pool))
        if script is None:
            script = self._scripts[id(client.connection_pool)] = client.register_script(_SLIDING_WINDOW)
        self.now = self.timer()
        keys = [redis_cache.make_and_validate_key(key) for key in (self.key, API_KEYS_VERSION_CACHE_KEY)]
        allowed, oldest, version = script(keys=keys, args=[repr(self.now), self.duration, self.num_requests])
        request.api_keys_version = int(version) if version else None
        config_version_seen(request.api_keys_version)  # the members app's cached configuration needs no read of its own
        self.history = [float(oldest)] if oldest else []
        return bool(allowed)

    def wait(self):
        """Seconds until the oldest request in a full window leaves it (DRF's figure when the window is full)."""
        if not self.history:
            return self.duration
        return max(self.duration - (self.now - self.history[-1]), 0)


def _redis(cache) -> RedisCache | None:
    """The Redis backend behind ``cache`` (``django.core.cache.cache`` is a proxy to this thread's backend)."""
    backend = caches["default"] if cache is default_cache else cache
    return backend if isinstance(backend, RedisCache) else None
