// A Taskhook webhook receiver in Node.js: verifies each delivery's Standard Webhooks signature
// with the `standardwebhooks` package and drops a webhook-id it has already handled.
//
//   npm ci
//   WEBHOOK_SECRET=whsec_... PORT=9099 node receiver.js
//
// Each request is logged as one JSON line on stdout: {"outcome": "accepted" | "duplicate" |
// "rejected", "webhook_id", "type", "signatures", "error"}.
"use strict";
const http = require("node:http");
const { Webhook } = require("standardwebhooks");

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("set WEBHOOK_SECRET to the webhook's whsec_ secret");
  process.exit(2);
}
const port = Number(process.env.PORT || 9099);
const wh = new Webhook(secret); // accepts the whsec_ prefix; 5 minutes of clock skew allowed

// Retries and replays send the same webhook-id: handle each id once. Keep these ids in your
// database (a unique key) in production; an in-memory set forgets them on restart.
const seen = new Set();
const MAX_SEEN = 100000;

function log(entry) {
  process.stdout.write(JSON.stringify(entry) + "\n");
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks); // the raw bytes: verify before parsing
    const id = req.headers["webhook-id"] || "";
    const signatures = (req.headers["webhook-signature"] || "").split(" ").filter(Boolean).length;
    let msg;
    try {
      msg = wh.verify(body, req.headers); // throws unless one signature matches
    } catch (err) {
      log({ outcome: "rejected", webhook_id: id, signatures, error: err.message });
      res.writeHead(401, { "Content-Type": "text/plain" }).end("invalid signature\n");
      return;
    }
    if (seen.has(id)) {
      log({ outcome: "duplicate", webhook_id: id, type: msg.type, signatures });
      res.writeHead(200).end(); // a 2xx: Taskhook stops sending it
      return;
    }
    if (seen.size >= MAX_SEEN) seen.delete(seen.values().next().value);
    seen.add(id);
    // Handle the event here: msg.type ("task.created", "report.completed", ...), msg.data.
    log({ outcome: "accepted", webhook_id: id, type: msg.type, signatures });
    res.writeHead(204).end();
  });
});

server.listen(port, "127.0.0.1", () => console.error(`receiver on http://127.0.0.1:${port}`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
