// Browser test of the acknowledge page (/ack/<token>): playwright-core drives chromium against
// the real bin/ingest and bin/dispatcher that ack_test.go starts. A battery.critical reaches a
// redacting webhook with an escalation policy; the link from its message is opened (GET: shows,
// acknowledges nothing), the form is sent (POST: acknowledges), and every page is scanned with
// axe-core (no serious or critical violation) and for patient data. Exit 0: every check passed.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import { createRequire } from "node:module";

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set (run this through ack_test.go)`); return v; };
const BASE = env("UI_BASE"), INGEST = env("INGEST_BASE"), ADMIN = env("ADMIN_TOKEN"), INGEST_TOKEN = env("INGEST_TOKEN");
const EVENT = fs.readFileSync(env("EVENT_FILE"), "utf8");
const PUBLIC = env("PUBLIC_URL");
const PHI = ["John", "Doe", "1980-05-15"];
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const check = (ok, what) => { if (!ok) throw new Error(`check failed: ${what}`); console.log("ok:", what); };

const bodies = [];
const server = http.createServer((req, res) => {
  let b = ""; req.on("data", (c) => (b += c)); req.on("end", () => { bodies.push(b); res.writeHead(204); res.end(); });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const RECEIVER = `http://127.0.0.1:${server.address().port}`;
const api = async (method, path, body) => {
  const r = await fetch(BASE + path, { method, body: body && JSON.stringify(body), headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" } });
  return { status: r.status, json: await r.json().catch(() => null) };
};

const browser = await chromium.launch({ executablePath: env("CHROMIUM"), headless: true, args: ["--no-sandbox", "--disable-gpu"] });
async function audit(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe: no serious or critical violation on ${name}` + (bad.length ? ": " + JSON.stringify(bad.map((v) => v.id)) : ""));
  const text = await page.evaluate(() => document.body.innerText);
  check(!PHI.some((w) => text.includes(w)), `no patient data on ${name}`);
}
try {
  let r = await api("POST", "/v1/webhooks", { name: "on-call", url: RECEIVER + "/oncall", events: ["task.created"] });
  check(r.status === 201, `on-call webhook created (${r.status})`);
  r = await api("POST", "/v1/webhooks", { name: "Ward 3", url: RECEIVER + "/ward", events: ["battery.*"], redact: true,
    escalation: { acknowledge_within: "1h", escalate_to: [r.json.id] } });
  check(r.status === 201, `webhook with an escalation created (${r.status})`);
  const p = await fetch(`${INGEST}/v1/events`, { method: "POST", body: EVENT, headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "application/json" } });
  check(p.status === 202, "ingest accepted the battery.critical event");
  for (let i = 0; i < 80 && bodies.length === 0; i++) await new Promise((r) => setTimeout(r, 250));
  const msg = JSON.parse(bodies[0] || "{}");
  check(msg.alert && msg.alert.acknowledge_url.startsWith(PUBLIC + "/ack/"), "the message carries the acknowledge link");
  const link = BASE + msg.alert.acknowledge_url.slice(PUBLIC.length);

  const page = await (await browser.newContext()).newPage();
  let resp = await page.goto(link);
  check(resp.status() === 200, "GET the link: 200");
  check(await page.getByRole("heading", { name: "Acknowledge this alert" }).isVisible(), "the page says what to do");
  await audit(page, "the acknowledge page");
  r = await api("GET", `/v1/alerts/${msg.alert.id}`);
  check(r.json.state === "open", "opening the link acknowledged nothing");
  await page.getByLabel("Your name (optional)").fill("Nurse Joy");
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Acknowledge" }).click()]);
  check((await page.textContent("body")).includes("Acknowledged by Nurse Joy"), "the form acknowledged, naming who");
  await audit(page, "the acknowledged page");
  r = await api("GET", `/v1/alerts/${msg.alert.id}`);
  check(r.json.state === "acknowledged" && r.json.acknowledged_via === "link", "the API shows the acknowledgement");
  resp = await page.goto(BASE + "/ack/" + "A".repeat(43));
  check(resp.status() === 404, "a forged link: 404");
  await audit(page, "the not-found page");

  // The dashboard's Alerts page: a second alert waits; an admin acknowledges it there.
  const ev2 = JSON.parse(EVENT); ev2.device.id = "D-992";
  const p2 = await fetch(`${INGEST}/v1/events`, { method: "POST", body: JSON.stringify(ev2), headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "application/json" } });
  check(p2.status === 202, "ingest accepted a second battery.critical");
  for (let i = 0; i < 80 && bodies.length < 2; i++) await new Promise((r) => setTimeout(r, 250));
  const second = JSON.parse(bodies[1] || "{}").alert || {};
  const dash = await (await browser.newContext()).newPage();
  await dash.goto(`${BASE}/ui/login`);
  await dash.getByLabel("Token", { exact: true }).fill(ADMIN);
  await dash.getByRole("button", { name: "Sign in" }).click();
  await dash.waitForURL(`${BASE}/ui/`);
  await dash.getByRole("link", { name: "Alerts" }).click();
  await dash.waitForURL(`${BASE}/ui/alerts`);
  check(await dash.getByRole("table", { name: /not acknowledged/ }).isVisible(), "the Alerts page lists the alert waiting");
  await audit(dash, "the Alerts page");
  await dash.getByLabel("Your name").fill("Charge nurse");
  await Promise.all([dash.waitForNavigation(), dash.getByRole("button", { name: "Acknowledge" }).click()]);
  check((await dash.textContent("body")).includes("Nothing is waiting"), "acknowledged from the dashboard");
  await audit(dash, "the Alerts page after acknowledging");
  r = await api("GET", `/v1/alerts/${second.id}`);
  check(r.json.state === "acknowledged" && r.json.acknowledged_via === "dashboard" && r.json.acknowledged_by === "Charge nurse", "the API shows who acknowledged, via the dashboard");
} finally {
  await browser.close();
  server.close();
}
