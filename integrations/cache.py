"""Django's Redis cache with one client per connection pool, built once per process (and thread).

Django's ``RedisCache`` builds a new ``redis.Redis`` client on every cache call, over a shared pool; a request
that reads the cache five times paid for five clients. This backend keeps the first one (a client is thread-safe:
it only borrows connections from its pool). Settings use it whenever ``CACHE_URL`` is ``redis://…``.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


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
