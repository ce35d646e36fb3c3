"""Django's Redis cache backend, with one Redis client per connection pool.

Django's client builds a new ``redis.Redis`` for every operation, and each build copies the
table of response callbacks (about 170 entries): on a cached answer that cost more than the
round trip itself. A ``redis.Redis`` on a pool is safe to share between threads, so one per
pool is kept and reused; keys, values and behaviour are Django's.
"""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, tuple] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        held = self._clients.get(id(pool))
        if held is None:
            held = self._clients[id(pool)] = (pool, self._client(connection_pool=pool))
        return held[1]


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
