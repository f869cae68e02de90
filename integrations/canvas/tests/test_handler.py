"""The handler inside a (stand-in) plugin runner against a real local HTTP server playing
ingest: one POST with the bearer token, the outcome logged without patient data, a short
timeout, TASKHOOK_EVENTS honoured."""

import json
import threading
import time
import unittest
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
from canvas_sdk.v1.data import TaskComment
from taskhook_canvas import held, ingest, payload
from taskhook_canvas.handlers import task_events
from test_payload import seed_task

# What must never reach a log line: the patient's name and birth date, the task's title.
PHI = ("John", "Doe", "1980", "05/15", "Follow up")


class FakeIngest:
    """A real HTTP server on 127.0.0.1 that answers each POST with the configured status, body
    and delay, and records what it got."""

    def __init__(self):
        self.status, self.body, self.delay = 202, {"id": "x", "subject": "task.created", "duplicate": False}, 0.0
        self.got = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.got.append((self.path, dict(self.headers), raw))
                time.sleep(outer.delay)
                out = outer.body if isinstance(outer.body, bytes) else json.dumps(outer.body).encode()
                try:
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join()


class Handler(unittest.TestCase):
    def setUp(self):
        self.ingest = FakeIngest()
        self.addCleanup(self.ingest.close)
        self.secrets = {"TASKHOOK_INGEST_URL": self.ingest.url, "TASKHOOK_INGEST_TOKEN": "canvas-token"}
        harness.load(tasks=[seed_task()])
        harness.get_cache().standin_clear()

    def run_logged(self, event="TASK_CREATED", target="12345", secrets=None):
        with self.assertLogs("plugin_runner_logger", level="INFO") as logs:
            effects = harness.run(event, target, self.secrets if secrets is None else secrets)
            task_events.log.info("(end)")  # assertLogs needs at least one line
        text = "\n".join(logs.output)
        for s in PHI:
            self.assertNotIn(s, text, "patient data in the plugin's log")
        return effects, text

    def test_accepted(self):
        effects, text = self.run_logged()
        self.assertEqual(effects, [])
        self.assertEqual(len(self.ingest.got), 1)
        path, headers, raw = self.ingest.got[0]
        self.assertEqual(path, "/v1/events")
        self.assertEqual(headers["Authorization"], "Bearer canvas-token")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(raw), payload.build_event("TASK_CREATED", seed_task()))
        self.assertIn("Taskhook accepted TASK_CREATED for task 12345 (event_id canvas-", text)
        # The SDK (0.203.0) warns when a plugin sets Http's timeout; Canvas logs it too.
        self.assertIn("Overriding Http._MAX_REQUEST_TIMEOUT_SECONDS is deprecated", text)

    def test_url_forms(self):
        for url in (self.ingest.url + "/", self.ingest.url + "/v1/events", " " + self.ingest.url + "/v1/events/ "):
            self.run_logged(secrets=dict(self.secrets, TASKHOOK_INGEST_URL=url))
        self.assertEqual([g[0] for g in self.ingest.got], ["/v1/events"] * 3)

    def test_duplicate(self):
        self.ingest.body = {"id": "x", "subject": "task.created", "duplicate": True}
        _, text = self.run_logged()
        self.assertIn("Taskhook already had TASK_CREATED for task 12345", text)

    def test_refused_with_ingests_message_and_no_patient_data(self):
        self.ingest.status = 422
        self.ingest.body = {"error": "the body does not match the task event schema", "details": [
            {"path": "/patient/birth_date", "message": "'1980-05-15' is not valid 'date'"},
            {"path": "/due_date", "message": "'soon' is not valid 'date-time'"}]}
        _, text = self.run_logged()
        self.assertIn("Taskhook ingest refused TASK_CREATED for task 12345", text)
        self.assertIn("with 422: the body does not match the task event schema; /patient/birth_date: (message not logged", text)
        self.assertIn("/due_date: 'soon' is not valid 'date-time'", text)
        self.assertEqual(len(self.ingest.got), 1)

    def test_unauthorized(self):
        self.ingest.status, self.ingest.body = 401, {"error": "unknown token"}
        _, text = self.run_logged()
        self.assertIn("with 401 (check TASKHOOK_INGEST_TOKEN): unknown token", text)

    def test_not_json(self):
        self.ingest.status, self.ingest.body = 404, b"<html>nope</html>"
        _, text = self.run_logged()
        self.assertIn("with 404 (check TASKHOOK_INGEST_URL: it is ingest's base URL): (no JSON body)", text)

    def test_unavailable_is_held_for_retry(self):
        for status in (503, 500, 429):
            self.ingest.status, self.ingest.body = status, {"error": "the event could not be stored"}
            _, text = self.run_logged()
            self.assertIn("Taskhook ingest answered %d to TASK_CREATED for task 12345" % status, text)
            self.assertIn("held: the plugin's retry task sends it again every minute for up to 23 h", text)
        self.assertEqual(len(self.ingest.got), 3)  # one POST each, no retry loop inside the EHR
        entries = held.held(harness.get_cache())
        self.assertEqual(len(entries), 1, "the same event, held three times, takes one slot")
        self.assertEqual(entries[0]["body"], payload.build_event("TASK_CREATED", seed_task()))

    def short_timeout(self):
        self.assertLessEqual(ingest.TIMEOUT_SECONDS, 5)
        original = ingest.TIMEOUT_SECONDS
        ingest.TIMEOUT_SECONDS = 0.3
        self.addCleanup(setattr, ingest, "TIMEOUT_SECONDS", original)

    def test_timeout_bounds_the_call(self):
        self.short_timeout()
        self.ingest.delay = 3
        start = time.monotonic()
        _, text = self.run_logged()
        took = time.monotonic() - start
        self.assertLess(took, 1.5, "the handler held the EHR for %.1f s" % took)
        self.assertIn("Taskhook ingest did not answer (no connection, or no answer within 0.3 s: ", text)
        self.assertIn("to TASK_CREATED for task 12345", text)
        self.assertIn("held: the plugin's retry task", text)

    def test_connection_refused(self):
        url = self.ingest.url
        self.ingest.close()
        self.ingest = FakeIngest()  # for the cleanup; the closed port is what the plugin gets
        _, text = self.run_logged(secrets=dict(self.secrets, TASKHOOK_INGEST_URL=url))
        self.assertIn("Taskhook ingest did not answer (no connection", text)
        self.assertIn("held: the plugin's retry task", text)

    def test_when_nothing_can_be_held_it_says_so(self):
        cache = harness.get_cache()
        for n in range(held.SLOTS):
            cache.set(held.slot_key(n), {"slot": n, "name": "TASK_UPDATED", "body": {"event_id": "other-%d" % n}, "queued_at": "2024-01-01T00:00:00Z"})
        self.ingest.status = 503
        _, text = self.run_logged()
        self.assertIn("100 events already wait for retry: Taskhook will not see this event; it is safe to retry", text)

    def run_retry(self, minute="2024-01-15T10:07:00Z", secrets=None):
        return self.run_logged(event="CRON", target=minute, secrets=secrets)

    def test_retry_task_sends_held_events_in_order(self):
        self.ingest.status = 503
        harness.load(tasks=[seed_task(), seed_task(id="12346", title="Follow up again")])
        self.run_logged(target="12345")
        time.sleep(1.1)  # queued_at has one-second resolution
        self.run_logged(target="12346")
        self.assertEqual(len(held.held(harness.get_cache())), 2)
        # Still down: one attempt, both stay.
        _, text = self.run_retry()
        self.assertEqual(len(self.ingest.got), 3)
        self.assertIn("Taskhook ingest still answered 503 (to TASK_CREATED for task 12345", text)
        self.assertIn("2 events stay held for the next minute", text)
        # Back: both sent, oldest first, and released.
        self.ingest.status = 202
        _, text = self.run_retry()
        self.assertEqual([json.loads(g[2])["task_id"] for g in self.ingest.got[3:]], ["12345", "12346"])
        self.assertEqual(held.held(harness.get_cache()), [])
        self.assertIn("Taskhook accepted TASK_CREATED for task 12346", text)
        self.run_retry()
        self.assertEqual(len(self.ingest.got), 5, "nothing left to send")

    def test_retry_task_drops_refused_and_stale_events(self):
        self.ingest.status = 503
        self.run_logged()
        cache = harness.get_cache()
        cache.set(held.slot_key(7), {"slot": 7, "name": "TASK_UPDATED", "body": {"event_id": "canvas-old", "task_id": "9"},
                                     "queued_at": "2020-01-01T00:00:00Z"})
        self.ingest.status, self.ingest.body = 422, {"error": "the task event does not match", "details": [{"path": "/title", "message": "x"}]}
        _, text = self.run_retry()
        self.assertIn("Gave up on TASK_UPDATED for task 9 (event_id canvas-old) after 23 h of retries", text)
        self.assertIn("Taskhook ingest refused TASK_CREATED for task 12345", text)
        self.assertEqual(held.held(cache), [])

    def test_retry_task_needs_its_settings(self):
        self.ingest.status = 503
        self.run_logged()
        self.ingest.status = 202
        self.run_retry(secrets={})
        self.assertEqual(len(self.ingest.got), 1)
        self.assertEqual(len(held.held(harness.get_cache())), 1)

    def test_retry_task_runs_on_its_schedule(self):
        from taskhook_canvas.handlers.retry import TaskhookRetry
        self.assertEqual(TaskhookRetry.SCHEDULE, "* * * * *")
        self.assertEqual(TaskhookRetry.RESPONDS_TO, "CRON")

    def test_missing_settings(self):
        for secrets in ({}, {"TASKHOOK_INGEST_URL": self.ingest.url}, {"TASKHOOK_INGEST_TOKEN": "t", "TASKHOOK_INGEST_URL": " "}):
            effects, text = self.run_logged(secrets=secrets)
            self.assertEqual(effects, [])
            self.assertIn("TASKHOOK_INGEST_URL and TASKHOOK_INGEST_TOKEN must both be set", text)
        self.assertEqual(self.ingest.got, [])

    def test_events_setting(self):
        secrets = dict(self.secrets, TASKHOOK_EVENTS="TASK_CREATED,TASK_COMPLETD")
        effects, text = self.run_logged(event="TASK_UPDATED", secrets=secrets)
        self.assertIsNone(effects)  # accept_event said no
        self.assertIn("TASKHOOK_EVENTS names events this plugin does not know: TASK_COMPLETD", text)
        self.assertEqual(self.ingest.got, [])
        self.run_logged(event="TASK_CREATED", secrets=secrets)
        self.assertEqual(len(self.ingest.got), 1)
        # Comments only when chosen.
        self.assertIsNone(self.run_logged(event="TASK_COMMENT_CREATED")[0])

    def test_completed(self):
        harness.load(tasks=[seed_task(status="COMPLETED", modified=datetime(2024, 1, 12, 16, 30, tzinfo=timezone.utc))])
        self.run_logged(event="TASK_COMPLETED")
        body = json.loads(self.ingest.got[0][2])
        self.assertEqual((body["event"], body["status"], body["due_date"]), ("updated", "completed", "2024-01-15T10:00:00Z"))

    def test_comment(self):
        task = seed_task()
        harness.load(tasks=[task], comments=[TaskComment(id="c-9", task=task, body="called, no answer")])
        _, text = self.run_logged(event="TASK_COMMENT_CREATED", target="c-9",
                                  secrets=dict(self.secrets, TASKHOOK_EVENTS="TASK_COMMENT_CREATED"))
        body = json.loads(self.ingest.got[0][2])
        self.assertEqual(body, payload.build_event("TASK_COMMENT_CREATED", task, comment_id="c-9"))
        self.assertNotIn("called, no answer", text)

    def test_unknown_task(self):
        effects, text = self.run_logged(target="nope")
        self.assertEqual(effects, [])
        self.assertIn("TASK_CREATED: task nope not found; nothing sent", text)
        self.assertEqual(self.ingest.got, [])


if __name__ == "__main__":
    unittest.main()
