#!/usr/bin/env python3
"""A webhook receiver for trying Taskhook locally: prints each delivery and answers 204.

    python3 examples/receiver.py [port]          # default 9099
    WEBHOOK_SECRET=whsec_... python3 examples/receiver.py

With WEBHOOK_SECRET set it verifies the Standard Webhooks signature (HMAC-SHA256 over
"<webhook-id>.<webhook-timestamp>.<body>") and answers 401 when no signature matches.
"""
import base64, hashlib, hmac, http.server, os, sys

SECRET = os.environ.get("WEBHOOK_SECRET", "")


def signed(headers, body):
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    msg = f'{headers["webhook-id"]}.{headers["webhook-timestamp"]}.'.encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    # Several signatures may be sent (during a secret rotation), separated by spaces.
    return any(s.split(",", 1)[-1] == want for s in (headers.get("webhook-signature") or "").split())


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ok = not SECRET or signed(self.headers, body)
        print(f'{self.path} webhook-id={self.headers.get("webhook-id")} signature={"ok" if ok else "BAD"}')
        print(body.decode(errors="replace"), flush=True)
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9099
print(f"receiver on http://127.0.0.1:{port}", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
