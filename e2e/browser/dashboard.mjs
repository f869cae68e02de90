// Browser test of the dispatcher's dashboard (/ui/): playwright-core drives Debian's chromium
// against the real bin/ingest and bin/dispatcher, which browser_test.go starts and describes
// in the environment. It runs the admin's day from goReporter's guide ("Quick Setup",
// "Monitoring Webhooks") through the pages, checks viewers, CSRF and sessions, scans every page
// with axe-core and writes the screenshots the README shows. Exit status 0 means every check
// passed; the first failed check ends the run with its reason.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run this through browser_test.go)`);
  return v;
};
const BASE = env("UI_BASE"); // http://127.0.0.1:port of the dispatcher
const INGEST = env("INGEST_BASE");
const ADMIN = env("ADMIN_TOKEN");
const VIEWER = env("VIEWER_TOKEN");
const INGEST_TOKEN = env("INGEST_TOKEN");
const SEED = fs.readFileSync(env("SEED_FILE"), "utf8");
const SHOTS = process.env.SHOTS_DIR || "";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PHI = ["John", "Doe", "1980-05-15", "Johnson", "Smith"]; // the seed's patient and staff
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

// A local receiver: answers 200 (or 500 when failing); /evil serves a cross-origin CSRF form.
const receiver = { failing: false, hits: 0 };
const server = http.createServer((req, res) => {
  if (req.url.startsWith("/evil")) {
    const target = new URL(req.url, "http://x").searchParams.get("target");
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><title>evil</title><form method="post" action="${target}"><input type="hidden" name="active" value="false"><button>Win a prize</button></form>`);
    return;
  }
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    receiver.hits++;
    if (receiver.failing) {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end("receiver is down for maintenance");
    } else {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("ok");
    }
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const RECEIVER = `http://127.0.0.1:${server.address().port}`;

async function publish() {
  const r = await fetch(`${INGEST}/v1/events`, {
    method: "POST", body: SEED,
    headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "application/json" },
  });
  check(r.status === 202, `ingest accepted the seed event (${r.status})`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const violations = [];
async function newPage(viewport = { width: 1280, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on("console", (m) => { if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text()); });
  page.on("pageerror", (e) => violations.push(String(e)));
  return { ctx, page };
}

// Every page: no serious or critical axe violation, no patient data, nothing breaks the CSP.
const scanned = [];
async function audit(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe: no serious or critical violation on ${name}` +
    (bad.length ? ": " + JSON.stringify(bad.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) }))) : ""));
  const text = await page.evaluate(() => document.body.innerText);
  const leaked = PHI.filter((w) => new RegExp(`\\b${w}\\b`).test(text));
  check(leaked.length === 0, `no patient data on ${name}` + (leaked.length ? `: ${leaked}` : ""));
  scanned.push(name);
}
// What the dashboard has written: webhooks and audit records, read through the admin API.
async function written() {
  const h = { Authorization: `Bearer ${ADMIN}` };
  const hooks = await (await fetch(`${BASE}/v1/webhooks`, { headers: h })).json();
  let audit = 0;
  for (let url = `${BASE}/v1/audit?limit=200`; url;) {
    const page = await (await fetch(url, { headers: h })).json();
    audit += page.entries.length;
    url = page.next_cursor ? `${BASE}/v1/audit?limit=200&cursor=${encodeURIComponent(page.next_cursor)}` : "";
  }
  return { webhooks: hooks.webhooks.length, audit };
}
// After a write, the page shown was reached by a redirect (POST/redirect/GET): reloading it is a
// GET and writes nothing.
async function reloadWritesNothing(page, what) {
  const before = await written();
  for (let i = 0; i < 2; i++) {
    const resp = await page.reload();
    check(resp.request().method() === "GET" && resp.status() < 400, `reload ${i + 1} of ${what} is a GET (${resp.request().method()} ${resp.status()})`);
  }
  const after = await written();
  check(after.webhooks === before.webhooks && after.audit === before.audit,
    `reloading ${what} writes nothing (webhooks ${before.webhooks}→${after.webhooks}, audit ${before.audit}→${after.audit})`);
}
async function shot(page, file) {
  if (!SHOTS) return;
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
  log("screenshot", file);
}

try {
  // --- no session: pages go to the sign-in page, writes are refused ---
  let r = await fetch(`${BASE}/`, { redirect: "manual" });
  check(r.status === 302 && r.headers.get("location") === "/ui/", "GET / redirects to /ui/");
  r = await fetch(`${BASE}/ui/`, { redirect: "manual" });
  check(r.status === 303 && r.headers.get("location") === "/ui/login", "a page without a session goes to the sign-in page");
  r = await fetch(`${BASE}/ui/webhooks/new`, { method: "POST", redirect: "manual", body: new URLSearchParams({ name: "x" }) });
  check(r.status === 401, `a write without a session is refused (${r.status})`);

  // --- sign in as admin ---
  const { ctx: adminCtx, page } = await newPage();
  await page.goto(`${BASE}/ui/`);
  check(page.url().endsWith("/ui/login"), "the dashboard asks to sign in");
  await audit(page, "sign-in");
  const csp = (await page.request.get(`${BASE}/ui/login`)).headers()["content-security-policy"] || "";
  check(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), "a strict CSP without unsafe-inline");
  await page.getByLabel("Token", { exact: true }).fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  check(await page.getByRole("alert").isVisible(), "an unknown token is refused on the page");
  check(!(await page.content()).includes("not-a-token"), "the typed token is not rendered back");
  await page.getByLabel("Token", { exact: true }).fill(ADMIN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${BASE}/ui/`);
  const cookies = await adminCtx.cookies();
  const sc = cookies.find((c) => c.name === "taskhook_session");
  check(sc && sc.httpOnly && sc.sameSite === "Strict" && sc.expires > Date.now() / 1000, "an HttpOnly, SameSite=Strict, expiring session cookie");
  check(!sc.value.includes(ADMIN) && !(await page.content()).includes(ADMIN), "the token is neither in the cookie's clear text nor on the page");

  // --- Quick Setup: Admin → Webhooks → New, paste URL, select events, test, save ---
  await page.getByRole("link", { name: "New webhook" }).click();
  check(await page.getByLabel("Provider", { exact: true }).inputValue() === "", "the form chooses no provider (no default Slack)");
  check(await page.getByRole("textbox", { name: "URL", exact: true }).isVisible(), "before a provider is chosen, the URL field is plain");
  // Digest fields: none while "one message per event" is chosen; each mode shows its own.
  const windowField = page.getByLabel(/^Window, 5s to 24h/), dailyField = page.getByLabel(/^Time of day/);
  await page.getByLabel("Provider", { exact: true }).selectOption("slack");
  check(await page.getByLabel("Messages", { exact: true }).inputValue() === "", "one message per event by default");
  check(!(await windowField.isVisible()) && !(await dailyField.isVisible()) && !(await page.getByLabel(/on days without events/).isVisible()),
    "no digest field shows while one message per event is chosen");
  await page.getByLabel("Messages", { exact: true }).selectOption("window");
  check(await windowField.isVisible() && !(await dailyField.isVisible()), "a window digest shows the window only");
  await page.getByLabel("Messages", { exact: true }).selectOption("daily");
  check(!(await windowField.isVisible()) && await dailyField.isVisible(), "a daily digest shows the time of day");
  await page.getByLabel("Messages", { exact: true }).selectOption("");
  // The event picker: clinical families by label, operational events apart (folded), no
  // variable names or settings in what it shows.
  const picker = await page.locator("fieldset.events").innerText();
  check(!/TASKHOOK_|previous_health|delivery_id|\btask\.created\b/.test(picker), "the event picker shows words, not variable names");
  check(await page.getByRole("checkbox", { name: "Battery critical (replace the device)", exact: true }).isVisible(), "clinical events by their labels");
  const opsBox = page.getByRole("checkbox", { name: "Taskhook turned a webhook off", exact: true });
  check(!(await opsBox.isVisible()), "operational events are folded apart from the clinical ones");
  await page.locator("details.operational summary").click();
  check(await opsBox.isVisible(), "the operational events open on request");
  await page.locator("details.operational summary").click();
  await page.getByLabel("Name", { exact: true }).fill("Care team (Slack)");
  check(await page.getByRole("textbox", { name: "Slack incoming webhook URL", exact: true }).isVisible(), "the URL field follows the provider (Slack)");
  check(!(await page.getByLabel("How deliveries authenticate", { exact: true }).isVisible()), "no authentication fields for Slack");
  await page.getByLabel("Provider", { exact: true }).selectOption("fhir");
  check(await page.getByLabel("Task identifier system", { exact: true }).isVisible(), "FHIR shows its identifier system");
  await page.getByLabel("How deliveries authenticate", { exact: true }).selectOption("smart_backend");
  check(await page.getByLabel("Client ID", { exact: true }).isVisible(), "SMART fields follow the authentication");
  await page.getByLabel("Provider", { exact: true }).selectOption("slack");
  // an invalid URL first: the API's 422 detail is shown next to the field
  await page.getByRole("textbox", { name: "Slack incoming webhook URL", exact: true }).fill("ftp://nowhere");
  await page.getByRole("checkbox", { name: "Task created", exact: true }).check();
  await page.getByRole("button", { name: "Test" }).click();
  check(await page.locator("#err-url").isVisible(), "the API's 422 for /url is shown next to the URL field");
  check((await page.getByRole("textbox", { name: "Slack incoming webhook URL", exact: true }).getAttribute("aria-invalid")) === "true", "the URL field is marked invalid");
  await page.getByRole("textbox", { name: "Slack incoming webhook URL", exact: true }).fill(`${RECEIVER}/slack/T000/B000/XXXX`);
  const hitsBefore = receiver.hits;
  await page.getByRole("button", { name: "Test" }).click();
  await page.getByRole("heading", { name: /Test succeeded/ }).waitFor();
  check(receiver.hits === hitsBefore + 1, "Test sent one request to the receiver through the real path");
  check(await page.getByText("200", { exact: true }).isVisible(), "the test result shows the status code");
  check(await page.getByRole("checkbox", { name: "Task created", exact: true }).isChecked(), "the form keeps what was typed after Test");
  check(/\/ui\/webhooks\/new\?tested=/.test(page.url()), "the tested form is shown after a redirect");
  await reloadWritesNothing(page, "the form after Test");
  check(receiver.hits === hitsBefore + 1, "reloading the tested form sent nothing to the receiver");
  check(await page.getByRole("heading", { name: /Test succeeded/ }).isVisible() && await page.getByRole("checkbox", { name: "Task created", exact: true }).isChecked(),
    "after a reload the tested form still shows the result and what was typed");
  // keyboard: Tab reaches Test and Save
  const reached = new Set();
  await page.locator("body").focus();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    reached.add(await page.evaluate(() => document.activeElement?.textContent?.trim()));
  }
  check(reached.has("Test") && reached.has("Save"), "Test and Save are reachable with the keyboard");
  await audit(page, "new webhook (tested)");
  await shot(page, "ui-new-webhook.png");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  const hookURL = page.url().replace(/\?.*$/, "");
  const hookID = hookURL.split("/").pop();
  check(/^[0-9a-f-]{36}$/.test(hookID), "saved: the webhook's page");
  await reloadWritesNothing(page, "the page after Save");

  // A saved test, a pause and a resume: each answered by a redirect; reloading writes nothing.
  await page.getByRole("button", { name: "Send a test event" }).click();
  await page.getByRole("heading", { name: /Test succeeded/ }).waitFor();
  await reloadWritesNothing(page, "the page after Send a test event");
  check(!(await page.getByRole("heading", { name: /Test succeeded/ }).count()), "the test result is shown once, not again on reload");
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByText(/^Paused/).waitFor();
  await reloadWritesNothing(page, "the page after Pause");
  await page.goto(`${BASE}/ui/`);
  check(await page.locator("table.webhooks td.state", { hasText: "paused" }).count() === 1, "the webhooks table shows the paused state");
  await page.goto(hookURL);
  await page.getByRole("button", { name: "Resume" }).click();
  await page.getByText("Resumed.").waitFor();
  await reloadWritesNothing(page, "the page after Resume");

  // A webhook with a generated signing secret: shown once after a redirect, never in a URL;
  // reloading shows it no more and writes nothing.
  await page.goto(`${BASE}/ui/webhooks/new`);
  await page.getByLabel("Name", { exact: true }).fill("Signed desk");
  await page.getByLabel("Provider", { exact: true }).selectOption("generic");
  await page.getByRole("textbox", { name: "Endpoint URL", exact: true }).fill(`${RECEIVER}/signed`);
  await page.getByLabel("How deliveries authenticate", { exact: true }).selectOption("hmac");
  await page.getByRole("checkbox", { name: "Every task event", exact: true }).check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: "Signing secret: shown once" }).waitFor();
  const secret = await page.getByLabel("Signing secret", { exact: true }).inputValue();
  check(/^whsec_/.test(secret) && !page.url().includes(secret) && /\/secret$/.test(page.url()), "the secret is shown once, on a page reached by a redirect, not in its URL");
  await audit(page, "secret shown once");
  await reloadWritesNothing(page, "the secret page");
  check(!(await page.content()).includes(secret) && await page.getByText(/not shown again/).isVisible(), "reloading the secret page does not show the secret again");
  const signedURL = page.url().replace(/\/secret$/, "");
  await page.goto(signedURL);
  await page.getByRole("button", { name: "Rotate the signing secret" }).click();
  await page.getByRole("heading", { name: "Signing secret: shown once" }).waitFor();
  const rotated = await page.getByLabel("Signing secret", { exact: true }).inputValue();
  check(/^whsec_/.test(rotated) && rotated !== secret, "rotation shows the new secret once");
  await reloadWritesNothing(page, "the page after a rotation");
  await page.goto(signedURL + "/delete");
  await page.getByLabel(/Type the name/).fill("Signed desk");
  await page.getByRole("button", { name: "Delete Signed desk" }).click();
  await page.getByText("The webhook was deleted.").waitFor();
  await reloadWritesNothing(page, "the page after Delete");

  // --- an event arrives: the delivery and its attempt are in the log ---
  await publish();
  await eventually("the delivery succeeded in the log", async () => {
    await page.goto(hookURL);
    return (await page.locator("table.deliveries .status-succeeded").count()) === 1;
  });
  await audit(page, "webhook detail");
  await shot(page, "ui-webhook.png");
  await page.locator("table.deliveries a").first().click();
  check(await page.locator("table.attempts tbody tr").count() === 1, "the delivery shows its attempt");
  check(await page.locator("table.attempts td", { hasText: "200" }).count() >= 1, "the attempt's status code 200");
  await audit(page, "delivery");

  // --- Monitoring: the receiver fails, health turns red; fixed, Retry now succeeds ---
  receiver.failing = true;
  await publish();
  await eventually("health turns red on the webhooks page", async () => {
    await page.goto(`${BASE}/ui/`);
    return (await page.locator(".badge-red", { hasText: "red" }).count()) === 1;
  }, 30000);
  await page.getByLabel(/Filter by name/).fill("care team");
  await page.getByRole("button", { name: "Filter" }).click();
  check(await page.getByRole("link", { name: "Care team (Slack)" }).isVisible(), "the filter box finds the webhook");
  await page.goto(`${BASE}/ui/`);
  const urlCell = await page.locator("table.webhooks td.url").first().innerText();
  check(/^127\.0\.0\.1:\d+\/… \(secret URL\)$/.test(urlCell) && !urlCell.includes("XXXX"), `the table shows the Slack URL's host only (${urlCell})`);
  check(await page.locator("table.webhooks td.state", { hasText: "active" }).count() === 1, "the table shows the active state");
  check(await page.evaluate(() => getComputedStyle(document.querySelector("table.webhooks")).display) === "table", "at 1280 px the webhooks table is a table (cards only on narrow screens)");
  check(/\((just now|\d+ s ago|\d+ min ago)\)/.test(await page.locator("table.webhooks .ago").first().innerText()), "times show how long ago beside the UTC time");
  await audit(page, "webhooks");
  await shot(page, "ui-webhooks.png");
  await page.goto(`${hookURL}?status=failed`);
  await eventually("the failed delivery is listed under status failed", async () => {
    await page.goto(`${hookURL}?status=failed`);
    return (await page.locator("table.deliveries .status-failed").count()) === 1;
  });
  await page.locator("table.deliveries a").first().click();
  const failedAttempts = await page.locator("table.attempts tbody tr").count();
  check(failedAttempts >= 2, `the failed delivery lists its ${failedAttempts} attempts`);
  check(await page.locator("table.attempts pre", { hasText: "receiver is down" }).count() >= 1, "each attempt shows the response excerpt");
  receiver.failing = false;
  await page.getByRole("button", { name: "Retry now" }).click();
  await page.getByText(/Retried/).waitFor();
  await reloadWritesNothing(page, "the page after Retry now");
  check(await page.locator("h1 .status-succeeded").isVisible(), "Retry now succeeded after the receiver was fixed");
  check(await page.locator("table.attempts tbody tr").count() === failedAttempts + 1, "the retry is one more attempt in the log");
  await shot(page, "ui-delivery.png");

  // --- stats and audit ---
  await page.goto(`${BASE}/ui/stats`);
  check(await page.locator("svg.chart rect").count() > 0, "the stats chart is drawn (server-side SVG)");
  await audit(page, "stats");
  await shot(page, "ui-stats.png");
  await page.goto(`${BASE}/ui/audit`);
  check(await page.locator('table.audit td[data-action="webhook.create"]', { hasText: "Created" }).count() === 2, "the audit shows the creations in words");
  check(await page.locator('table.audit td[data-action="delivery.retry"]', { hasText: "Delivery retried" }).count() === 1, "the audit shows the retry");
  check(await page.locator("table.audit li", { hasText: "Signing secret rotated" }).count() === 1 && await page.locator("table.audit li", { hasText: "Paused" }).count() >= 1,
    "the audit lists the changes in words");
  const auditText = await page.locator("table.audit").innerText();
  check(!/[{}"]|tok_/.test(auditText), "the audit shows no raw JSON and no token id of the signed-in admin");
  await audit(page, "audit");
  await shot(page, "ui-audit.png");

  // edit and delete pages are scanned too (nothing is changed)
  await page.goto(`${hookURL}/edit`);
  await audit(page, "edit webhook");
  await page.goto(`${hookURL}/delete`);
  check(await page.getByRole("heading", { name: "Delete “Care team (Slack)”?" }).isVisible(), "delete asks, naming the webhook");
  await audit(page, "delete confirmation");

  // --- CSRF: a cross-origin form, a request without the token ---
  await page.goto(`${RECEIVER}/evil?target=${encodeURIComponent(`${hookURL}/active`)}`);
  await page.getByRole("button", { name: "Win a prize" }).click();
  await page.waitForLoadState();
  check((await page.content()).includes("Refused"), "a cross-origin form post is refused");
  r = await page.request.post(`${hookURL}/active`, { form: { active: "false" }, maxRedirects: 0 });
  check(r.status() === 403, `a post without the CSRF token is refused (${r.status()})`);
  await page.goto(hookURL);
  check(await page.getByRole("button", { name: "Pause" }).isVisible(), "the webhook is still active after both attempts");

  // --- 390 px wide ---
  const { ctx: phoneCtx, page: phone } = await newPage({ width: 390, height: 844 });
  await phoneCtx.addCookies([{ ...sc }]);
  for (const p of ["/ui/", `/ui/webhooks/${hookID}`, "/ui/webhooks/new", "/ui/stats"]) {
    await phone.goto(BASE + p);
    const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 390, `${p} fits 390 px (${wide})`);
  }
  await phone.goto(`${BASE}/ui/`);
  const health = phone.locator("table.webhooks td.health").first();
  const box = await health.boundingBox();
  check(box && box.x >= 0 && box.x + box.width <= 390 && await health.locator(".badge").isVisible(), `the Health column is whole at 390 px (${JSON.stringify(box)})`);
  await phone.goto(`${BASE}/ui/webhooks/${hookID}`);
  await shot(phone, "ui-mobile.png");
  await phoneCtx.close();

  // --- sign out ---
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You are signed out.").waitFor();
  await page.goto(`${BASE}/ui/`);
  check(page.url().endsWith("/ui/login"), "after signing out the dashboard asks to sign in again");
  await adminCtx.close();

  // --- a viewer sees every page and no control that writes ---
  const { ctx: viewerCtx, page: vp } = await newPage();
  await vp.goto(`${BASE}/ui/login`);
  await vp.getByLabel("Token", { exact: true }).fill(VIEWER);
  await vp.getByRole("button", { name: "Sign in" }).click();
  await vp.waitForURL(`${BASE}/ui/`);
  let deliveryPath = "";
  for (const p of ["/ui/", `/ui/webhooks/${hookID}`, "/ui/stats", "/ui/audit"]) {
    await vp.goto(BASE + p);
    const writes = await vp.locator("form[method=post]:not(.signout)").count();
    const newLink = await vp.getByRole("link", { name: /New webhook|Edit|Delete/ }).count();
    check(writes === 0 && newLink === 0, `the viewer finds no write control on ${p}`);
    if (!deliveryPath && p.includes("webhooks/")) deliveryPath = await vp.locator("table.deliveries a").first().getAttribute("href");
  }
  await vp.goto(BASE + deliveryPath);
  check(await vp.getByRole("button", { name: "Retry now" }).count() === 0, "the viewer finds no Retry now");
  const csrf = await vp.locator("form.signout input[name=csrf]").inputValue();
  r = await vp.request.post(`${BASE}${deliveryPath}/retry`, { form: { csrf }, maxRedirects: 0 });
  check(r.status() === 403, `the server refuses the viewer's write (${r.status()})`);
  r = await vp.request.post(`${BASE}/ui/webhooks/new`, { form: { csrf, name: "x", provider: "slack", url: `${RECEIVER}/x`, action: "save" }, maxRedirects: 0 });
  check(r.status() === 403, `the server refuses the viewer's create (${r.status()})`);
  await viewerCtx.close();

  check(violations.length === 0, "no CSP violation or script error in any page" + (violations.length ? ": " + violations.join(" | ") : ""));
  log(`PASS: ${scanned.length} pages scanned by axe (${scanned.join(", ")})`);
} catch (e) {
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) {
      console.error(`--- page ${p.url()} ---\n` + (await p.locator("main").innerText().catch(() => "(no main)")).slice(0, 3000));
    }
  }
  throw e;
} finally {
  await browser.close();
  server.close();
}
