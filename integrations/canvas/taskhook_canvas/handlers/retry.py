"""Every minute, send again the events that ingest did not store (taskhook_canvas/held.py).

Written against the Canvas plugin SDK 0.203.0: CronTask (canvas_sdk/handlers/cron_task.py),
get_cache (canvas_sdk/caching/plugins.py).
"""

from canvas_sdk.caching.plugins import get_cache
from canvas_sdk.handlers.cron_task import CronTask
from logger import log

from taskhook_canvas import held
from taskhook_canvas.ingest import RETRY, RETRY_HINT, describe, events_url, send


class TaskhookRetry(CronTask):
    """Sends held events oldest first; stops at the first that ingest still does not store,
    so that an outage costs one timeout a minute, not one per held event."""

    SCHEDULE = "* * * * *"

    def execute(self) -> list:
        url = str(self.secrets.get("TASKHOOK_INGEST_URL") or "")
        token = str(self.secrets.get("TASKHOOK_INGEST_TOKEN") or "")
        cache = get_cache()
        entries = held.held(cache)
        if not entries or not url.strip() or not token.strip():
            return []
        sent = 0
        for entry in entries:
            about = describe(entry.get("name"), entry["body"])
            if held.age_seconds(entry.get("queued_at")) > held.KEEP_SECONDS:
                held.release(cache, entry)
                log.error("Gave up on " + about + " after 23 h of retries: " + RETRY_HINT)
                continue
            outcome, why = send(events_url(url), token.strip(), entry["body"], str(entry.get("name")))
            if outcome == RETRY:
                log.warning(
                    "Taskhook ingest still "
                    + why
                    + " (to "
                    + about
                    + "); "
                    + str(len(entries) - sent)
                    + " events stay held for the next minute"
                )
                break
            held.release(cache, entry)
            sent += 1
        return []
