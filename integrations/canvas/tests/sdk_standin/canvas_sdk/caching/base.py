"""Stand-in of canvas_sdk/caching/base.py (Cache) of the Canvas SDK 0.203.0: the same methods
over a Django-like cache with add semantics for get_or_set. The values live in memory, or, when
the environment names CANVAS_STANDIN_CACHE, in that JSON file, so that separate python3
processes (the end-to-end test's plugin runs) share them as Canvas's cache server would."""

import json
import os
import time


class CachingException(Exception):
    """Mirrors canvas_sdk/caching/exceptions.py."""


class _Store:
    def __init__(self):
        self._memory = {}

    def _load(self):
        path = os.environ.get("CANVAS_STANDIN_CACHE")
        if not path:
            return self._memory
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _save(self, data):
        path = os.environ.get("CANVAS_STANDIN_CACHE")
        if not path:
            self._memory = data
            return
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    def live(self):
        now = time.time()
        return {k: v for k, v in self._load().items() if v[1] is None or v[1] > now}

    def put(self, key, value, timeout):
        data = self.live()
        data[key] = [value, None if timeout is None else time.time() + timeout]
        self._save(data)

    def drop(self, key):
        data = self.live()
        data.pop(key, None)
        self._save(data)


class Cache:
    """A cache whose keys are prefixed with the plugin's name."""

    def __init__(self, connection=None, prefix="", max_timeout_seconds=None):
        self._connection = connection or _Store()
        self._prefix = prefix
        self._max_timeout_seconds = max_timeout_seconds

    def _make_key(self, key):
        return f"{self._prefix}:{key}" if self._prefix else key

    def _get_timeout(self, timeout_seconds):
        if timeout_seconds is None:
            return self._max_timeout_seconds
        if self._max_timeout_seconds is not None and timeout_seconds > self._max_timeout_seconds:
            raise CachingException(
                f"Timeout of {timeout_seconds} seconds exceeds the max timeout of {self._max_timeout_seconds} seconds."
            )
        return timeout_seconds

    def set(self, key, value, timeout_seconds=None):
        self._connection.put(self._make_key(key), value, self._get_timeout(timeout_seconds))

    def set_many(self, data, timeout_seconds=None):
        for key, value in data.items():
            self.set(key, value, timeout_seconds)
        return []

    def get(self, key, default=None):
        hit = self._connection.live().get(self._make_key(key))
        return default if hit is None else hit[0]

    def get_or_set(self, key, default=None, timeout_seconds=None):
        """Django's get_or_set: add (only if absent), then read back what the cache holds."""
        timeout = self._get_timeout(timeout_seconds)
        if self._make_key(key) not in self._connection.live():
            if callable(default):
                default = default()
            self._connection.put(self._make_key(key), default, timeout)
        return self.get(key, default)

    def get_many(self, keys):
        """A dict of the prefixed keys that exist to their values, as the SDK's returns."""
        live = self._connection.live()
        return {k: live[k][0] for k in {self._make_key(key) for key in keys} if k in live}

    def delete(self, key):
        self._connection.drop(self._make_key(key))

    def standin_clear(self):
        """Stand-in only: empty the cache (between tests)."""
        for key in list(self._connection.live()):
            self._connection.drop(key)

    def __contains__(self, key):
        return self._make_key(key) in self._connection.live()
