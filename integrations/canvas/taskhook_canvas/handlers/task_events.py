"""Publish Canvas task events to Taskhook ingest (POST /v1/events).

Written against the Canvas plugin SDK 0.203.0 (canvas-medical/canvas-plugins): BaseHandler
(canvas_sdk/handlers/base.py), EventType (canvas_generated/messages/events_pb2), Task and
TaskComment (canvas_sdk/v1/data/task.py), Http (canvas_sdk/utils/http.py), get_cache
(canvas_sdk/caching/plugins.py), log (logger).
"""

from canvas_sdk.caching.plugins import get_cache
from canvas_sdk.events import EventType
from canvas_sdk.handlers.base import BaseHandler
from canvas_sdk.v1.data.task import Task, TaskComment
from logger import log

from taskhook_canvas import held
from taskhook_canvas.ingest import RETRY, RETRY_HINT, describe, events_url, send
from taskhook_canvas.payload import build_event, parse_events


class TaskhookTaskEvents(BaseHandler):
    """Sends each chosen Canvas task event to Taskhook as one task event."""

    RESPONDS_TO = [
        EventType.Name(EventType.TASK_CREATED),
        EventType.Name(EventType.TASK_UPDATED),
        EventType.Name(EventType.TASK_COMPLETED),
        EventType.Name(EventType.TASK_CLOSED),
        EventType.Name(EventType.TASK_COMMENT_CREATED),
    ]

    def accept_event(self) -> bool:
        """Only the events TASKHOOK_EVENTS chooses (by default all but comments)."""
        chosen, unknown = parse_events(self.secrets.get("TASKHOOK_EVENTS"))
        if unknown:
            log.warning(
                "TASKHOOK_EVENTS names events this plugin does not know: "
                + ", ".join(unknown)[:300]
                + "; known: TASK_CREATED, TASK_UPDATED, TASK_COMPLETED, TASK_CLOSED, TASK_COMMENT_CREATED"
            )
        return self.event.name in chosen

    def compute(self) -> list:
        """Build the task event and POST it once; the EHR never waits more than the timeout.
        When ingest stored nothing, the event is held for the retry task."""
        name = self.event.name
        url = str(self.secrets.get("TASKHOOK_INGEST_URL") or "")
        token = str(self.secrets.get("TASKHOOK_INGEST_TOKEN") or "")
        if not url.strip() or not token.strip():
            log.error(
                "TASKHOOK_INGEST_URL and TASKHOOK_INGEST_TOKEN must both be set (canvas config set); "
                + name
                + " not sent"
            )
            return []

        target = self.event.target.id
        comment_id = None
        if name == "TASK_COMMENT_CREATED":
            comment = TaskComment.objects.filter(id=target).first()
            if comment is None or comment.task_id is None:
                log.warning(name + ": comment " + str(target) + " has no task; nothing sent")
                return []
            comment_id = comment.id
            target = comment.task_id
        task = (
            Task.objects.select_related("patient", "creator", "assignee", "team")
            .filter(id=target)
            .first()
        )
        if task is None:
            log.warning(name + ": task " + str(target) + " not found; nothing sent")
            return []

        body = build_event(name, task, comment_id)
        outcome, why = send(events_url(url), token.strip(), body, name)
        if outcome == RETRY:
            hold_for_retry(name, body, why)
        return []


def hold_for_retry(name, body, why):
    """Keep an event that ingest did not store for the retry task, and say so."""
    about = describe(name, body)
    slot = None
    try:
        slot = held.hold(get_cache(), name, body)
    except Exception as err:  # the cache's backend errors have no common type
        log.error("Taskhook ingest " + why + " to " + about + "; it could not be held for retry (" + str(err)[:200] + "): " + RETRY_HINT)
        return
    if slot is None:
        log.error("Taskhook ingest " + why + " to " + about + "; " + str(held.SLOTS) + " events already wait for retry: " + RETRY_HINT)
        return
    log.warning("Taskhook ingest " + why + " to " + about + "; held: the plugin's retry task sends it again every minute for up to 23 h")
