#!/usr/bin/env python3
"""A Taskhook webhook receiver in Python (standard library only): verifies each delivery's
Standard Webhooks signature and drops a webhook-id it has already handled.

    WEBHOOK_SECRET=whsec_... PORT=9099 python3 receiver.py

Each request is logged as one JSON line on stdout: {"outcome": "accepted" | "duplicate" |
"rejected", "webhook_id", "type", "signatures", "error"}.
"""
import base64
import collections
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

TOLERANCE = 5 * 60  # seconds of clock skew allowed either way


class VerificationError(Exception):
    pass


def verify(secret, headers, body):
    """Raise VerificationError unless one webhook-signature matches; return the parsed body.

    secret is whsec_<base64>; body the raw bytes received (verify before parsing). During a
    rotation Taskhook sends two signatures, one per secret: either secret verifies."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(ts)
    except ValueError:
        raise VerificationError("webhook-timestamp is not unix seconds")
    now = int(time.time())
    if now - sent > TOLERANCE:
        raise VerificationError("message timestamp too old")
    if sent - now > TOLERANCE:
        raise VerificationError("message timestamp too new")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    want = base64.b64encode(mac).decode()
    for sig in sigs.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return json.loads(body) if body else None
    raise VerificationError("no matching signature")


class Seen:
    """The webhook-ids handled so far (retries and replays send the same id again). Keep them
    in your database (a unique key) in production: this forgets them on restart."""

    def __init__(self, limit=100_000):
        self.ids, self.limit, self.lock = collections.OrderedDict(), limit, threading.Lock()

    def add(self, msg_id):
        """True the first time msg_id is added."""
        with self.lock:
            if msg_id in self.ids:
                return False
            self.ids[msg_id] = True
            if len(self.ids) > self.limit:
                self.ids.popitem(last=False)
            return True


def log(**entry):
    sys.stdout.write(json.dumps(entry) + "\n")
    sys.stdout.flush()


def handler(secret, seen):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            msg_id = self.headers.get("webhook-id", "")
            n = len((self.headers.get("webhook-signature") or "").split())
            try:
                msg = verify(secret, self.headers, body)
            except (VerificationError, ValueError) as e:
                log(outcome="rejected", webhook_id=msg_id, signatures=n, error=str(e))
                self.send_response(401)
                self.end_headers()
                return
            if not seen.add(msg_id):
                log(outcome="duplicate", webhook_id=msg_id, type=msg.get("type"), signatures=n)
                self.send_response(200)  # a 2xx: Taskhook stops sending it
                self.end_headers()
                return
            # Handle the event here: msg["type"] ("task.created", ...), msg["data"].
            log(outcome="accepted", webhook_id=msg_id, type=msg.get("type"), signatures=n)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("set WEBHOOK_SECRET to the webhook's whsec_ secret")
    port = int(os.environ.get("PORT", "9099"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler(secret, Seen()))
    print(f"receiver on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
