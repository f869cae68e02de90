"""Stand-in of canvas_sdk/caching/plugins.py (get_cache) of the Canvas SDK 0.203.0: the
plugin's cache, prefixed with its name, 14 days at most (settings.CANVAS_SDK_CACHE_TIMEOUT_SECONDS)."""

from canvas_sdk.caching.base import Cache

_CACHE = Cache(prefix="taskhook_canvas", max_timeout_seconds=14 * 24 * 3600)


def get_cache(**kwargs):
    """Get the cache client for plugins."""
    return _CACHE


__all__ = ("get_cache",)
