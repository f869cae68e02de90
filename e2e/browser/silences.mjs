// Browser test of the dashboard's Silences pages (see silences_test.go): playwright-core drives
// Debian's chromium against the real bin/ingest and bin/dispatcher. Exit status 0 means every
// check passed; the first failed check ends the run with its reason.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run this through silences_test.go)`);
  return v;
};
const BASE = env("UI_BASE");
const INGEST = env("INGEST_BASE");
const ADMIN = env("ADMIN_TOKEN");
const VIEWER = env("VIEWER_TOKEN");
const INGEST_TOKEN = env("INGEST_TOKEN");
const SHOTS = process.env.SHOTS_DIR || "";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  log("ok:", what);
}
async function eventually(what, fn, within = 20000) {
  const end = Date.now() + within;
  for (;;) {
    if (await fn()) return log("ok:", what);
    if (Date.now() > end) throw new Error(`check failed (after ${within} ms): ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The channel: records the device of every battery event it receives.
const received = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    try { received.push(JSON.parse(body).data.device.id); } catch { received.push("?"); }
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok");
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const RECEIVER = `http://127.0.0.1:${server.address().port}`;

async function api(method, p, body, token = ADMIN) {
  const r = await fetch(`${BASE}${p}`, { method, body: body && JSON.stringify(body),
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}
let n = 0;
async function battery(device, type = "battery.low") {
  const r = await fetch(`${INGEST}/v1/events`, { method: "POST",
    body: JSON.stringify({ type, event_id: `ui-${device}-${++n}`, device: { id: device, kind: "pacemaker" }, battery: { percent: 9 } }),
    headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "application/json" } });
  check(r.status === 202, `ingest accepted ${type} of ${device}`);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"] });
const violations = [];
async function signIn(token) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.on("console", (m) => { if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text()); });
  page.on("pageerror", (e) => violations.push(String(e)));
  await page.goto(`${BASE}/ui/login`);
  await page.getByLabel("Token", { exact: true }).fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${BASE}/ui/`);
  return { ctx, page };
}
async function audit(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe: no serious or critical violation on ${name}` +
    (bad.length ? ": " + JSON.stringify(bad.map((v) => ({ id: v.id, nodes: v.nodes.map((x) => x.target) }))) : ""));
}
async function shot(page, file) {
  if (!SHOTS) return;
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
  log("screenshot", file);
}

try {
  const wh = await api("POST", "/v1/webhooks", { name: "ERI channel", url: `${RECEIVER}/hook`, events: ["battery.*"] });
  check(wh.status === 201, "a battery webhook exists");
  const other = await api("POST", "/v1/webhooks", { name: "Archive", url: `${RECEIVER}/archive`, events: ["battery.*"] });
  await battery("D-991");
  await battery("D-7");
  await eventually("both events reach both webhooks", () => received.length === 4);
  const log1 = await api("GET", `/v1/webhooks/${wh.json.id}/deliveries`);

  const { page } = await signIn(ADMIN);
  // "Silence similar…" on a delivery of D-991 (whichever of the two: find D-991's by its event id).
  const mine = log1.json.deliveries.find((d) => d.event_id.startsWith("ui-D-991"));
  await page.goto(`${BASE}/ui/deliveries/${mine.id}`);
  await audit(page, "delivery");
  await page.getByRole("link", { name: "Silence similar…" }).click();
  await page.getByRole("heading", { name: "Silence similar: device D-991" }).waitFor();
  const matcher = await page.getByLabel(/^Matcher/).inputValue();
  check(matcher === 'type == "battery.low" && event.device.id == "D-991"', `the matcher is prefilled from the delivery (${matcher})`);
  check(await page.getByRole("checkbox", { name: /ERI channel/ }).isChecked(), "its webhook is checked");
  check(!(await page.getByRole("checkbox", { name: /Archive/ }).isChecked()), "the other webhook is not");
  await audit(page, "new silence (similar)");
  // A broad matcher, previewed, then a bad reason: the API's 422 shows by the field.
  await page.getByLabel(/^Matcher/).fill('event.device.id == "D-991"');
  await page.getByRole("button", { name: /Preview/ }).click();
  await page.getByRole("heading", { name: /Preview/ }).waitFor();
  const preview = await page.getByRole("status").innerText();
  check(/silenced 1 of 2 deliveries/.test(preview), `the preview counts last 24 h's deliveries at the webhook (${preview.trim()})`);
  await page.getByLabel(/^Reason/).fill("x");
  await page.getByRole("button", { name: "Create silence" }).click();
  check(await page.locator("#err-reason").isVisible(), "a one-character reason is refused next to the field");
  check((await page.getByLabel(/^Reason/).getAttribute("aria-invalid")) === "true", "the reason field is marked invalid");
  await audit(page, "new silence (refused)");
  await page.getByLabel(/^Reason/).fill("firmware update in clinic");
  await page.getByLabel("Lasts").selectOption("2h");
  await shot(page, "ui-silence-new.png");
  await page.getByRole("button", { name: "Create silence" }).click();
  await page.waitForURL(/\/ui\/silences\?done=silenced/);
  check(await page.getByText("Silence created.").isVisible(), "the page says it was created");
  const active = page.locator("#silences-active");
  check(await active.getByText("firmware update in clinic").isVisible(), "the silence is listed as active with its reason");
  check(await active.getByRole("link", { name: "ERI channel" }).isVisible(), "with its webhook by name");
  await audit(page, "silences");
  await shot(page, "ui-silences.png");

  // Its battery events are silenced in the log; others (and the other webhook) still arrive.
  const before = received.length;
  await battery("D-991");
  await battery("D-991", "battery.critical");
  await battery("D-7");
  await eventually("D-7's event arrives at both webhooks, D-991's at the archive only", () => received.length === before + 4);
  await new Promise((r) => setTimeout(r, 500));
  check(received.slice(before).filter((d) => d === "D-991").length === 2, "D-991 reached only the other webhook");
  await page.goto(`${BASE}/ui/webhooks/${wh.json.id}`);
  await eventually("the log shows two silenced deliveries", async () => {
    await page.reload();
    return (await page.locator(".badge.status-silenced").count()) === 2;
  });
  await audit(page, "webhook with silenced deliveries");
  const log2 = await api("GET", `/v1/webhooks/${wh.json.id}/deliveries?status=silenced`);
  await page.goto(`${BASE}/ui/deliveries/${log2.json.deliveries[0].id}`);
  check(await page.getByText("Silenced by").isVisible(), "a silenced delivery names its silence");
  await audit(page, "silenced delivery");

  // The audit says who and why.
  await page.goto(`${BASE}/ui/audit`);
  check(await page.getByRole("cell", { name: "silence.create" }).isVisible(), "the audit lists the silence");
  check((await page.locator("table").innerText()).includes("firmware update in clinic"), "with its reason");

  // A viewer sees the silences but no write control.
  const { page: vpage } = await signIn(VIEWER);
  await vpage.goto(`${BASE}/ui/silences`);
  check(await vpage.getByText("firmware update in clinic").isVisible(), "a viewer sees the silence");
  check((await vpage.getByRole("button", { name: /End now/ }).count()) === 0, "a viewer has no End button");
  check((await vpage.getByRole("link", { name: "New silence" }).count()) === 0, "a viewer has no New silence link");
  const r = await vpage.request.get(`${BASE}/ui/silences/new`, { maxRedirects: 0 });
  check(r.status() === 403, `a viewer cannot open the form (${r.status()})`);

  // End now: expired, and the next event of D-991 arrives.
  await page.goto(`${BASE}/ui/silences`);
  await page.getByRole("button", { name: /End now: the silence “firmware update in clinic”/ }).click();
  await page.waitForURL(/done=unsilenced/);
  check(await page.locator("#silences-expired").getByText("firmware update in clinic").isVisible(), "the ended silence is listed as expired");
  check(await page.getByText("No silence is active.").isVisible(), "no silence is active");
  const before2 = received.length;
  await battery("D-991");
  await eventually("after the end D-991 reaches both webhooks", () => received.length === before2 + 2 && received.slice(before2).every((d) => d === "D-991"));
  check(violations.length === 0, `no CSP violation or page error (${violations})`);
  log("done");
} finally {
  await browser.close();
  server.close();
}
