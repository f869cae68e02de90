#!/usr/bin/env python3
"""A webhook receiver for trying Taskhook locally: prints each delivery and answers 204.

    python3 examples/receiver.py [port]          # default 9099
    WEBHOOK_SECRET=whsec_... python3 examples/receiver.py [port]

Without WEBHOOK_SECRET it checks nothing and prints signature=unverified. With it, it verifies
the Standard Webhooks signature (HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>"),
prints signature=ok or signature=BAD, and answers 401 when no signature matches. Requests are
served concurrently (one thread each), so a burst of deliveries does not queue behind one.

It prints the whole body, patient data included: it is for trying Taskhook with examples, not
for production. For a receiver to build on, see examples/receivers/.
"""
import base64, hashlib, hmac, http.server, os, sys, threading

SECRET = os.environ.get("WEBHOOK_SECRET", "")
PRINT = threading.Lock()  # one delivery's lines together


def signed(headers, body):
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    msg = f'{headers["webhook-id"]}.{headers["webhook-timestamp"]}.'.encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    # Several signatures may be sent (during a secret rotation), separated by spaces.
    sigs = (headers.get("webhook-signature") or "").split()
    return any(hmac.compare_digest(s.split(",", 1)[-1], want) for s in sigs)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not SECRET:
            ok, signature = True, "unverified"
        else:
            try:
                ok = signed(self.headers, body)
            except (KeyError, ValueError):  # a header missing, a secret that is not base64
                ok = False
            signature = "ok" if ok else "BAD"
        with PRINT:
            print(f'POST {self.path} webhook-id={self.headers.get("webhook-id")} signature={signature}')
            print(body.decode(errors="replace"), flush=True)
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9099
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"receiver on http://127.0.0.1:{port}" + ("" if SECRET else " (no WEBHOOK_SECRET: signatures unverified)"), flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
