"""The payload builder: every shape of Canvas task becomes a task event that matches
schemas/task-event.v1.json, with an event_id that a retried call repeats."""

import json
import os
import re
import unittest
from datetime import date, datetime, timedelta, timezone

import harness  # noqa: F401 (sys.path)
from canvas_sdk.v1.data import Patient, Staff, Task, Team
from taskhook_canvas import payload

SCHEMA = os.path.join(harness.HERE, "..", "..", "..", "schemas", "task-event.v1.json")

# The payload of the seed plugin (Canvas "Task Webhook" Slack example), as in its README.
SEED = {
    "task_id": "12345",
    "event": "created",
    "title": "Follow up with patient",
    "due_date": "2024-01-15T10:00:00Z",
    "patient": {"id": "67890", "first_name": "John", "last_name": "Doe", "birth_date": "1980-05-15", "sex_at_birth": "Male"},
    "creator": {"id": "11111", "first_name": "Dr. Jane", "last_name": "Smith"},
    "assignee": {"staff": {"id": "22222", "first_name": "Nurse", "last_name": "Johnson"}, "team": None},
}

CREATED = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)


def seed_task(**change):
    fields = dict(
        id="12345", title="Follow up with patient", status="OPEN",
        due=datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc), created=CREATED, modified=CREATED,
        patient=Patient(id="67890", first_name="John", last_name="Doe", birth_date=date(1980, 5, 15), sex_at_birth="M"),
        creator=Staff(id="11111", first_name="Dr. Jane", last_name="Smith"),
        assignee=Staff(id="22222", first_name="Nurse", last_name="Johnson"), team=None,
    )
    fields.update(change)
    return Task(**fields)


def conforms(test, body):
    """The parts of schemas/task-event.v1.json that a stdlib test can check: no unknown
    top-level field, the required ones, the enums, the id pattern, the date-time form."""
    with open(SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    props = schema["properties"]
    test.assertLessEqual(set(body), set(props), "unknown top-level fields")
    for name in schema["required"]:
        test.assertIn(name, body)
    test.assertIn(body["event"], props["event"]["enum"])
    if "status" in body:
        test.assertIn(body["status"], props["status"]["enum"])
    test.assertRegex(body["event_id"], props["event_id"]["pattern"])
    test.assertLessEqual(len(body["event_id"]), props["event_id"]["maxLength"])
    test.assertTrue(1 <= len(body["title"]) <= props["title"]["maxLength"])
    for name in ("due_date", "occurred_at"):
        if body.get(name) is not None:
            test.assertRegex(body[name], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
    for who in (body.get("patient"), body.get("creator"), (body.get("assignee") or {}).get("staff"),
                (body.get("assignee") or {}).get("team")):
        if who is not None:
            test.assertTrue(who["id"])
    json.dumps(body)  # serialisable as is


class Shapes(unittest.TestCase):
    def test_staff_assignee_is_the_seed_payload(self):
        body = payload.build_event("TASK_CREATED", seed_task())
        conforms(self, body)
        self.assertEqual({k: body[k] for k in SEED}, SEED)
        self.assertEqual(set(body) - set(SEED), {"event_id", "status", "occurred_at"})
        self.assertEqual(body["status"], "open")
        self.assertEqual(body["occurred_at"], "2024-01-10T09:00:00Z")

    def test_team_only(self):
        team = Team(id="7f1c5a52-2d3a-4f0e-9d6c-0c1d9c1f2a11", name="Cardiology")
        body = payload.build_event("TASK_CREATED", seed_task(assignee=None, team=team))
        conforms(self, body)
        self.assertEqual(body["assignee"], {"staff": None, "team": {"id": "7f1c5a52-2d3a-4f0e-9d6c-0c1d9c1f2a11", "name": "Cardiology"}})

    def test_staff_and_team(self):
        body = payload.build_event("TASK_UPDATED", seed_task(team=Team(id="t1", name="")))
        conforms(self, body)
        self.assertEqual(body["assignee"]["staff"]["id"], "22222")
        self.assertEqual(body["assignee"]["team"], {"id": "t1", "name": None})

    def test_unassigned(self):
        body = payload.build_event("TASK_CREATED", seed_task(assignee=None, team=None))
        conforms(self, body)
        self.assertEqual(body["assignee"], {"staff": None, "team": None})

    def test_no_due_date(self):
        body = payload.build_event("TASK_CREATED", seed_task(due=None))
        conforms(self, body)
        self.assertIsNone(body["due_date"])
        self.assertIn("due_date", body)  # null, so that a removed due date clears the reminders' date

    def test_completed(self):
        done = datetime(2024, 1, 12, 16, 30, tzinfo=timezone.utc)
        for event, status in (("TASK_COMPLETED", "COMPLETED"), ("TASK_COMPLETED", "OPEN"), ("TASK_UPDATED", "COMPLETED")):
            with self.subTest(event=event, status=status):
                body = payload.build_event(event, seed_task(status=status, modified=done))
                conforms(self, body)
                self.assertEqual((body["event"], body["status"]), ("updated", "completed"))
                self.assertEqual(body["occurred_at"], "2024-01-12T16:30:00Z")
                self.assertEqual(body["due_date"], "2024-01-15T10:00:00Z")

    def test_closed(self):
        body = payload.build_event("TASK_CLOSED", seed_task(status="OPEN"))
        conforms(self, body)
        self.assertEqual((body["event"], body["status"]), ("updated", "closed"))

    def test_no_patient_no_creator(self):
        body = payload.build_event("TASK_CREATED", seed_task(patient=None, creator=None))
        conforms(self, body)
        self.assertIsNone(body["patient"])
        self.assertIsNone(body["creator"])

    def test_patient_fields(self):
        for code, shown in (("F", "Female"), ("M", "Male"), ("O", "Other"), ("UNK", "Unknown"), ("", None), (None, None)):
            p = Patient(id="p", first_name="", last_name="Doe", birth_date=date(2001, 2, 3), sex_at_birth=code)
            body = payload.build_event("TASK_CREATED", seed_task(patient=p))
            self.assertEqual(body["patient"], {"id": "p", "first_name": None, "last_name": "Doe", "birth_date": "2001-02-03", "sex_at_birth": shown})

    def test_title_bounds(self):
        self.assertEqual(payload.build_event("TASK_CREATED", seed_task(title=""))["title"], "Untitled task")
        self.assertEqual(len(payload.build_event("TASK_CREATED", seed_task(title="x" * 20000))["title"]), 10000)

    def test_times_in_utc(self):
        east = timezone(timedelta(hours=-5))
        self.assertEqual(payload.rfc3339(datetime(2024, 1, 15, 5, 0, tzinfo=east)), "2024-01-15T10:00:00Z")
        self.assertEqual(payload.rfc3339(datetime(2024, 1, 15, 10, 0)), "2024-01-15T10:00:00Z")  # naive: UTC
        self.assertEqual(payload.rfc3339(datetime(2024, 1, 15, 10, 0, 0, 250000, tzinfo=timezone.utc)), "2024-01-15T10:00:00.250000Z")
        self.assertIsNone(payload.rfc3339(None))


class EventIDs(unittest.TestCase):
    def test_a_retried_call_repeats_its_id(self):
        for event in payload.CANVAS_TO_TASKHOOK:
            if event == "TASK_COMMENT_CREATED":
                continue
            a = payload.build_event(event, seed_task())["event_id"]
            self.assertEqual(a, payload.build_event(event, seed_task())["event_id"], event)
            self.assertRegex(a, r"^canvas-[0-9a-f]{64}$")

    def test_created_once_per_task(self):
        a = payload.build_event("TASK_CREATED", seed_task())["event_id"]
        later = seed_task(modified=CREATED + timedelta(minutes=5), title="changed")
        self.assertEqual(a, payload.build_event("TASK_CREATED", later)["event_id"])
        self.assertNotEqual(a, payload.build_event("TASK_CREATED", seed_task(id="12346"))["event_id"])

    def test_each_change_is_its_own_event(self):
        first = payload.build_event("TASK_UPDATED", seed_task())["event_id"]
        second = payload.build_event("TASK_UPDATED", seed_task(modified=CREATED + timedelta(seconds=1)))["event_id"]
        self.assertNotEqual(first, second)
        self.assertNotEqual(first, payload.build_event("TASK_CREATED", seed_task())["event_id"])

    def test_updated_and_completed_of_one_save_share_an_id(self):
        done = seed_task(status="COMPLETED", modified=CREATED + timedelta(hours=1))
        self.assertEqual(payload.build_event("TASK_UPDATED", done)["event_id"], payload.build_event("TASK_COMPLETED", done)["event_id"])

    def test_comments(self):
        a = payload.build_event("TASK_COMMENT_CREATED", seed_task(), comment_id="c-1")
        b = payload.build_event("TASK_COMMENT_CREATED", seed_task(), comment_id="c-2")
        conforms(self, a)
        self.assertEqual(a["event"], "updated")
        self.assertNotEqual(a["event_id"], b["event_id"])
        self.assertEqual(a["event_id"], payload.build_event("TASK_COMMENT_CREATED", seed_task(), comment_id="c-1")["event_id"])

    def test_ids_carry_no_task_content(self):
        eid = payload.build_event("TASK_CREATED", seed_task())["event_id"]
        for s in ("12345", "John", "Follow"):
            self.assertNotIn(s, eid)


class Settings(unittest.TestCase):
    def test_events(self):
        self.assertEqual(payload.parse_events(None), (set(payload.DEFAULT_EVENTS), []))
        self.assertEqual(payload.parse_events("  "), (set(payload.DEFAULT_EVENTS), []))
        self.assertEqual(payload.parse_events("task_created, TASK_COMPLETED"), ({"TASK_CREATED", "TASK_COMPLETED"}, []))
        self.assertEqual(payload.parse_events("TASK_CREATED TASK_CREATD"), ({"TASK_CREATED"}, ["TASK_CREATD"]))
        self.assertNotIn("TASK_COMMENT_CREATED", payload.DEFAULT_EVENTS)


if __name__ == "__main__":
    unittest.main()
