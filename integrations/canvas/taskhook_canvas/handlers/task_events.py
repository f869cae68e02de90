"""Publish Canvas task events to Taskhook ingest (POST /v1/events).

Written against the Canvas plugin SDK 0.203.0 (canvas-medical/canvas-plugins): BaseHandler
(canvas_sdk/handlers/base.py), EventType (canvas_generated/messages/events_pb2), Task and
TaskComment (canvas_sdk/v1/data/task.py), Http (canvas_sdk/utils/http.py), log (logger).
"""

from canvas_sdk.events import EventType
from canvas_sdk.handlers.base import BaseHandler
from canvas_sdk.utils import Http
from canvas_sdk.v1.data.task import Task, TaskComment
from logger import log
from requests import RequestException

from taskhook_canvas.payload import build_event, parse_events

# The longest the plugin waits for ingest, for connecting and again for reading its answer.
# Ingest answers once JetStream has stored the event (milliseconds); a Taskhook outage must
# not hold the EHR.
TIMEOUT_SECONDS = 3

# Fields whose validation messages can carry no patient data: only these messages of a 422
# are logged; the others are logged by their JSON pointer alone.
SAFE_PATHS = ("", "/event_id", "/task_id", "/event", "/type", "/status", "/due_date", "/occurred_at")

# Answers after which the same event may be sent again: ingest stored nothing.
RETRYABLE = (408, 425, 429)

RETRY_HINT = "Taskhook will not see this event; it is safe to retry"


def events_url(base):
    """TASKHOOK_INGEST_URL is ingest's base URL; its full /v1/events URL is accepted too."""
    base = base.strip().rstrip("/")
    if base.endswith("/v1/events"):
        return base
    return base + "/v1/events"


def refusal(response):
    """Ingest's message for a 4xx, with the JSON pointer of each detail; a detail's message
    only where it cannot quote patient data."""
    try:
        body = response.json()
    except ValueError:
        return "(no JSON body)"
    if not isinstance(body, dict):
        return "(unexpected body)"
    parts = [str(body.get("error") or "")[:300]]
    details = body.get("details") or []
    for detail in details[:10]:
        if not isinstance(detail, dict):
            continue
        path = str(detail.get("path") or "")
        if path in SAFE_PATHS:
            parts.append(path + ": " + str(detail.get("message") or "")[:200])
        else:
            parts.append(path + ": (message not logged: it may quote patient data)")
    return "; ".join(p for p in parts if p)


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
        """Build the task event and POST it once; the EHR never waits more than the timeout."""
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
        task = None
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
        self.publish(events_url(url), token.strip(), body, name)
        return []

    def publish(self, url, token, body, name):
        """One POST to ingest; logs the outcome by task and event id, never the task's content."""
        about = name + " for task " + body["task_id"] + " (event_id " + body["event_id"] + ")"
        http = Http()
        # Http.post at SDK 0.203.0 takes no timeout and uses this per-instance limit (30 s by
        # default); the sandbox allows overriding it on an Http instance.
        http._MAX_REQUEST_TIMEOUT_SECONDS = TIMEOUT_SECONDS
        try:
            response = http.post(
                url,
                json=body,
                headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
            )
        except RequestException as err:
            log.error(
                "Taskhook ingest did not answer "
                + about
                + " within "
                + str(TIMEOUT_SECONDS)
                + " s ("
                + str(err)[:200]
                + "): "
                + RETRY_HINT
            )
            return None

        status = response.status_code
        if 200 <= status < 300:
            duplicate = False
            try:
                answer = response.json()
                duplicate = isinstance(answer, dict) and answer.get("duplicate") is True
            except ValueError:
                pass
            if duplicate:
                log.info("Taskhook already had " + about + "; ingest kept one copy")
            else:
                log.info("Taskhook accepted " + about)
            return status
        if status >= 500 or status in RETRYABLE:
            log.error("Taskhook ingest answered " + str(status) + " to " + about + ": " + RETRY_HINT)
            return status
        hint = ""
        if status == 401:
            hint = " (check TASKHOOK_INGEST_TOKEN)"
        elif status == 404:
            hint = " (check TASKHOOK_INGEST_URL: it is ingest's base URL)"
        log.error(
            "Taskhook ingest refused "
            + about
            + " with "
            + str(status)
            + hint
            + ": "
            + refusal(response)
        )
        return status
