"""Events that ingest did not store, held in the plugin's cache until the retry task
(handlers/retry.py) sends them again.

The cache (canvas_sdk.caching.plugins.get_cache) offers no list and no atomic append, so the
events are kept in a fixed set of SLOTS keys, each claimed with get_or_set (an atomic add in
the cache): two handlers can never take the same slot, and the retry task reads them all
with one get_many. Only the retry task frees a slot, after ingest answered.
"""

from datetime import datetime, timezone

SLOTS = 100

# How long an event is kept and retried; the cache drops it a little later by itself.
KEEP_SECONDS = 23 * 3600
CACHE_SECONDS = 24 * 3600


def slot_key(n):
    return "taskhook-held-" + str(n)


def now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_seconds(queued_at, now=None):
    """Seconds since queued_at (an RFC 3339 UTC text); a text that does not parse is old."""
    try:
        then = datetime.strptime(str(queued_at), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return KEEP_SECONDS + 1
    return ((now or datetime.now(timezone.utc)) - then).total_seconds()


def hold(cache, name, body):
    """Keep body for the retry task. Returns the slot, or None when every slot is taken.

    The first slot tried is derived from the event_id, so that a repeated call for the same
    event finds the slot it already holds instead of taking another."""
    start = int(body["event_id"][-6:], 16) % SLOTS if body["event_id"].startswith("canvas-") else 0
    queued_at = now_text()
    for i in range(SLOTS):
        n = (start + i) % SLOTS
        entry = {"slot": n, "name": name, "body": body, "queued_at": queued_at}
        got = cache.get_or_set(slot_key(n), entry, timeout_seconds=CACHE_SECONDS)
        if isinstance(got, dict) and isinstance(got.get("body"), dict) and got["body"].get("event_id") == body["event_id"]:
            return n
    return None


def held(cache):
    """Every held entry, oldest first."""
    found = cache.get_many([slot_key(n) for n in range(SLOTS)]) or {}
    entries = [e for e in found.values() if isinstance(e, dict) and isinstance(e.get("body"), dict) and "slot" in e]
    return sorted(entries, key=lambda e: (str(e.get("queued_at")), e["slot"]))


def release(cache, entry):
    cache.delete(slot_key(entry["slot"]))
