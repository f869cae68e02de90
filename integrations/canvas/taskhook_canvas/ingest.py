"""One POST of a task event to Taskhook ingest, and what its answer means.

Shared by the event handler (handlers/task_events.py) and the retry task (handlers/retry.py).
Log lines name the Canvas event, the task id and the event id, never the task's content.
"""

from canvas_sdk.utils import Http
from logger import log
from requests import RequestException

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

# What send() returns first.
SENT = "sent"
REFUSED = "refused"
RETRY = "retry"


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



def send(url, token, body, name):
    """POST body to ingest once. Returns SENT (accepted, or a duplicate ingest already had),
    REFUSED (a 4xx: sending it again cannot help) or RETRY (ingest stored nothing: a 408, 425,
    429, 5xx, timeout or connection error; sending it again with the same event_id is safe).
    Logs the outcome, except RETRY's, which the caller logs with what it does about it."""
    about = describe(name, body)
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
        return RETRY, "did not answer (no connection, or no answer within " + str(TIMEOUT_SECONDS) + " s: " + str(err)[:200] + ")"

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
        return SENT, ""
    if status >= 500 or status in RETRYABLE:
        return RETRY, "answered " + str(status)
    hint = ""
    if status == 401:
        hint = " (check TASKHOOK_INGEST_TOKEN)"
    elif status == 404:
        hint = " (check TASKHOOK_INGEST_URL: it is ingest's base URL)"
    log.error("Taskhook ingest refused " + about + " with " + str(status) + hint + ": " + refusal(response))
    return REFUSED, ""


def describe(name, body):
    """How log lines name an event: no content, only the event name, task id and event id."""
    return name + " for task " + str(body.get("task_id")) + " (event_id " + str(body.get("event_id")) + ")"
