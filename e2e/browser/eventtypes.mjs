// Browser test of the dashboard's Event types page: an admin registers "appointment.missed"
// (an example that fails its schema is refused at its field first), the type is listed with its
// schema and example, ingest accepts it seconds later, the admin edits it (a new version), and a
// viewer sees the page without write controls. Every page is scanned with axe-core. Run by
// eventtypes_test.go against the real binaries; exit status 0 means every check passed.
import { chromium } from "playwright-core";
import fs from "node:fs";
import { createRequire } from "node:module";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run this through eventtypes_test.go)`);
  return v;
};
const BASE = env("UI_BASE");
const INGEST = env("INGEST_BASE");
const ADMIN = env("ADMIN_TOKEN");
const VIEWER = env("VIEWER_TOKEN");
const INGEST_TOKEN = env("INGEST_TOKEN");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  log("ok:", what);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const violations = [];
async function signedIn(token) {
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
const scanned = [];
async function audit(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe: no serious or critical violation on ${name}` +
    (bad.length ? ": " + JSON.stringify(bad.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) }))) : ""));
  scanned.push(name);
}
async function publish(body) {
  const r = await fetch(`${INGEST}/v1/events`, {
    method: "POST", body: JSON.stringify(body),
    headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "application/json" },
  });
  return { status: r.status, body: await r.json() };
}

const schema = JSON.stringify({
  type: "object", required: ["appointment_id", "clinic"],
  properties: { appointment_id: { type: "string" }, clinic: { type: "string" }, url: { type: "string" } },
}, null, 2);

try {
  const { ctx, page } = await signedIn(ADMIN);
  await page.getByRole("link", { name: "Event types" }).click();
  await page.getByRole("heading", { name: "Event types", level: 1 }).waitFor();
  check(await page.getByRole("heading", { name: "task.created" }).isVisible(), "the built-in types are listed");
  await page.getByText("Schema of battery.critical").click();
  check(await page.getByText("schemas/battery-event.v1.json").first().isVisible(), "a built-in type's schema opens");
  await audit(page, "event types");

  // --- register appointment.missed; the example misses a required field first ---
  await page.getByRole("link", { name: "New event type" }).click();
  await page.getByLabel("Type", { exact: true }).fill("appointment.missed");
  await page.getByLabel("Description (optional)").fill("A patient did not come to an appointment");
  await page.getByLabel("JSON Schema (2020-12) of the event").fill(schema);
  await page.getByLabel("Example event").fill(JSON.stringify({ appointment_id: "A-77" }));
  await page.getByLabel("Title", { exact: true }).fill("Missed appointment");
  await page.getByLabel("Severity").selectOption("warning");
  await page.getByLabel("Fact 1 label").fill("Clinic");
  await page.getByLabel("Fact 1 value").fill("{{.event.clinic}}");
  await page.getByLabel("Link (optional)").fill("{{.event.url}}");
  await page.getByRole("button", { name: "Register" }).click();
  check(await page.getByRole("alert").isVisible(), "a refused type is announced");
  check(await page.locator("#err-example").isVisible() && (await page.locator("#err-example").innerText()).includes("/clinic"),
    "the example that fails the schema is refused at its field, with the pointer");
  check((await page.getByLabel("Example event").getAttribute("aria-invalid")) === "true", "the example field is marked invalid");
  check((await page.getByLabel("Fact 1 value").inputValue()) === "{{.event.clinic}}", "what was typed is kept");
  await audit(page, "new event type (refused)");
  await page.getByLabel("Example event").fill(JSON.stringify({ appointment_id: "A-77", clinic: "Cardiology North", url: "https://goreporter.example.org/appointments/A-77" }));
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByText("Event type saved").waitFor();
  check(await page.getByRole("heading", { name: /appointment\.missed/ }).isVisible(), "the new type is listed");
  check(await page.getByText("version 1").isVisible(), "at version 1");
  await page.getByText("Example of appointment.missed").click();
  check(await page.getByText("Cardiology North").first().isVisible(), "its example is shown");
  await audit(page, "event types (with a custom type)");

  // --- goReporter publishes one a few seconds later ---
  const end = Date.now() + 5000;
  let r;
  do {
    r = await publish({ type: "appointment.missed", appointment_id: "A-78", clinic: "North" });
  } while (r.status !== 202 && Date.now() < end && (await new Promise((ok) => setTimeout(ok, 50)), true));
  check(r.status === 202, `ingest accepts the new type within 5 s of saving (${r.status})`);
  r = await publish({ type: "appointment.missed", appointment_id: "A-79" });
  check(r.status === 422 && r.body.details[0].path === "/clinic", "ingest refuses a body without clinic, with the pointer");

  // --- edit: critical, version 2 ---
  await page.getByRole("link", { name: "Edit appointment.missed" }).click();
  check((await page.getByLabel("Type", { exact: true }).getAttribute("readonly")) !== null, "the name is fixed when editing");
  await audit(page, "edit event type");
  await page.getByLabel("Severity").selectOption("critical");
  await page.getByRole("button", { name: "Save as a new version" }).click();
  await page.getByText("Event type saved").waitFor();
  check(await page.getByText("version 2").isVisible(), "the edit is version 2");
  await ctx.close();

  // --- a viewer sees the page, no write control ---
  const { ctx: vctx, page: vp } = await signedIn(VIEWER);
  await vp.goto(`${BASE}/ui/event-types`);
  check(await vp.getByRole("heading", { name: /appointment\.missed/ }).isVisible(), "the viewer sees the custom type");
  check(await vp.getByRole("link", { name: /New event type|Edit/ }).count() === 0, "the viewer finds no write control");
  await audit(vp, "event types (viewer)");
  const resp = await vp.request.get(`${BASE}/ui/event-types/new`, { maxRedirects: 0 });
  check(resp.status() === 403, `the viewer cannot open the form (${resp.status()})`);
  await vctx.close();

  check(violations.length === 0, "no CSP violation or script error" + (violations.length ? ": " + violations.join(" | ") : ""));
  log(`PASS: ${scanned.length} pages scanned by axe (${scanned.join(", ")})`);
} catch (e) {
  for (const c of browser.contexts()) {
    for (const p of c.pages()) {
      console.error(`--- page ${p.url()} ---\n` + (await p.locator("main").innerText().catch(() => "(no main)")).slice(0, 3000));
    }
  }
  throw e;
} finally {
  await browser.close();
}
