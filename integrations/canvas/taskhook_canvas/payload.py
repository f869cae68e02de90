"""Build Taskhook task events (schemas/task-event.v1.json) from Canvas tasks.

Pure functions: no I/O, no logging, no SDK imports beyond plain attribute access, so that
every shape of task can be tested without Canvas.
"""

from datetime import datetime, timezone
from hashlib import sha256

# The Canvas events this plugin can publish, and the task event each one becomes. The task
# event schema knows created, updated, due and overdue: a completed or closed task is an
# update whose status says so (and that status cancels its due and overdue reminders).
CANVAS_TO_TASKHOOK = {
    "TASK_CREATED": "created",
    "TASK_UPDATED": "updated",
    "TASK_COMPLETED": "updated",
    "TASK_CLOSED": "updated",
    "TASK_COMMENT_CREATED": "updated",
}

# What the plugin sends when TASKHOOK_EVENTS is not set. A comment re-announces its task as
# "Task Updated", which most channels do not want, so it is opt-in.
DEFAULT_EVENTS = ("TASK_CREATED", "TASK_UPDATED", "TASK_COMPLETED", "TASK_CLOSED")

# Canvas TaskStatus values (canvas_sdk/v1/data/task.py) to the schema's status enum.
STATUSES = {"OPEN": "open", "COMPLETED": "completed", "CLOSED": "closed"}

# Canvas SexAtBirth codes (canvas_sdk/v1/data/patient.py) as the seed plugin's message shows
# them ("Male"). The SDK's display labels are lower case, so the codes are mapped here.
SEX_AT_BIRTH = {"F": "Female", "M": "Male", "O": "Other", "UNK": "Unknown"}


def parse_events(setting):
    """Read TASKHOOK_EVENTS: a comma- or space-separated list of Canvas event names.

    Returns (chosen, unknown): the names to send, and names that are not task events this
    plugin knows (reported so that a typo does not silently drop events). An empty or absent
    setting chooses DEFAULT_EVENTS.
    """
    if setting is None or not str(setting).strip():
        return set(DEFAULT_EVENTS), []
    chosen, unknown = set(), []
    for name in str(setting).replace(",", " ").split():
        name = name.strip().upper()
        if name in CANVAS_TO_TASKHOOK:
            chosen.add(name)
        else:
            unknown.append(name)
    return chosen, unknown


def rfc3339(value):
    """An aware or naive (read as UTC) datetime as RFC 3339 in UTC with a Z, or None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError("expected a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def text(value):
    """Optional text: None and empty strings become None (the schema's optionalText)."""
    if value is None:
        return None
    value = str(value)
    return value if value else None


def person(staff):
    """A Canvas Staff as the schema's person, or None."""
    if staff is None:
        return None
    return {
        "id": str(staff.id),
        "first_name": text(staff.first_name),
        "last_name": text(staff.last_name),
    }


def patient_of(patient):
    """A Canvas Patient as the schema's patient, or None."""
    if patient is None:
        return None
    birth = patient.birth_date
    return {
        "id": str(patient.id),
        "first_name": text(patient.first_name),
        "last_name": text(patient.last_name),
        "birth_date": birth.isoformat() if birth is not None else None,
        "sex_at_birth": SEX_AT_BIRTH.get(patient.sex_at_birth or ""),
    }


def team_of(team):
    """A Canvas Team as the schema's team, or None."""
    if team is None:
        return None
    return {"id": str(team.id), "name": text(team.name)}


def title_of(title):
    """The schema's title: 1 to 10,000 characters."""
    title = str(title or "").strip()
    return title[:10000] if title else "Untitled task"


def event_id(canvas_event, task, comment_id=None):
    """The idempotency key of a Canvas task event: the same Canvas event gives the same id.

    - created: the task (a task is created once).
    - a comment: the comment.
    - updated, completed, closed: the task and the time of its last change. Should Canvas fire
      TASK_UPDATED and TASK_COMPLETED for the same save, both describe the same state of the
      task, so they share an id and ingest keeps one.
    """
    kind = CANVAS_TO_TASKHOOK[canvas_event]
    if comment_id is not None:
        key = "comment|" + str(comment_id)
    elif kind == "created":
        key = "task|" + str(task.id) + "|created"
    else:
        key = "task|" + str(task.id) + "|updated|" + (rfc3339(task.modified) or "")
    return "canvas-" + sha256(key.encode("utf-8")).hexdigest()


def build_event(canvas_event, task, comment_id=None):
    """The Taskhook task event for a Canvas event about task.

    canvas_event is the Canvas event name (a key of CANVAS_TO_TASKHOOK); task a Canvas Task
    with its patient, creator, assignee and team; comment_id the TaskComment's id for
    TASK_COMMENT_CREATED.
    """
    kind = CANVAS_TO_TASKHOOK[canvas_event]
    status = STATUSES.get(str(task.status or "").upper())
    if canvas_event == "TASK_COMPLETED":
        status = "completed"
    elif canvas_event == "TASK_CLOSED":
        status = "closed"
    occurred = task.created if kind == "created" else task.modified
    body = {
        "event_id": event_id(canvas_event, task, comment_id),
        "task_id": str(task.id),
        "event": kind,
        "title": title_of(task.title),
        "due_date": rfc3339(task.due),
        "occurred_at": rfc3339(occurred),
        "patient": patient_of(task.patient),
        "creator": person(task.creator),
        "assignee": {"staff": person(task.assignee), "team": team_of(task.team)},
    }
    if status is not None:
        body["status"] = status
    return body
