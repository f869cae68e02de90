"""Shared by the plugin's tests and by run_handler.py: puts the SDK stand-in and the plugin on
sys.path, builds Canvas records from plain JSON, and runs the handler as the plugin runner does
(handler_class(event, secrets, environment); accept_event(); compute())."""

import os
import sys
from datetime import date, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (os.path.dirname(HERE), os.path.join(HERE, "sdk_standin")):
    if path not in sys.path:
        sys.path.insert(0, path)

from canvas_sdk.events import Event, EventRequest, EventType  # noqa: E402
from canvas_sdk.v1.data import Patient, Staff, Task, TaskComment, Team  # noqa: E402
from canvas_sdk.caching.plugins import get_cache  # noqa: E402
from taskhook_canvas.handlers.retry import TaskhookRetry  # noqa: E402
from taskhook_canvas.handlers.task_events import TaskhookTaskEvents  # noqa: E402


def when(value):
    """An RFC 3339 string as an aware datetime (None and "" are None)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def task_from(doc):
    """A Task (with its patient, creator, assignee and team) from a JSON description:
    {"id", "title", "due", "status", "created", "modified", "patient": {...}, "creator": {...},
    "assignee": {...}, "team": {...}}; absent related records are None."""
    patient = doc.get("patient")
    if patient is not None:
        patient = Patient(id=patient["id"], first_name=patient.get("first_name", ""),
                          last_name=patient.get("last_name", ""),
                          birth_date=date.fromisoformat(patient["birth_date"]) if patient.get("birth_date") else None,
                          sex_at_birth=patient.get("sex_at_birth", ""))

    def staff(d):
        return None if d is None else Staff(id=d["id"], first_name=d.get("first_name", ""), last_name=d.get("last_name", ""))

    team = doc.get("team")
    if team is not None:
        team = Team(id=team["id"], name=team.get("name", ""))
    return Task(id=doc["id"], title=doc.get("title", ""), due=when(doc.get("due")), status=doc.get("status", "OPEN"),
                created=when(doc.get("created")), modified=when(doc.get("modified")), patient=patient,
                creator=staff(doc.get("creator")), assignee=staff(doc.get("assignee")), team=team, task_type="T")


def load(tasks=(), comments=()):
    """Replace the in-memory tables with these records."""
    Task.objects.standin_clear()
    TaskComment.objects.standin_clear()
    for t in tasks:
        Task.objects.standin_add(t)
    for c in comments:
        TaskComment.objects.standin_add(c)


def run(event_name, target, secrets):
    """Run the plugin's handler for one Canvas event (CRON: the retry task, target the minute
    as an ISO date-time); returns its effects, or None when it did not accept the event."""
    event = Event(EventRequest(type=EventType.Value(event_name), target=str(target), context="",
                               target_type="" if event_name == "CRON" else "Task"))
    handler = (TaskhookRetry if event_name == "CRON" else TaskhookTaskEvents)(event, secrets, {})
    if not handler.accept_event():
        return None
    return handler.compute()
