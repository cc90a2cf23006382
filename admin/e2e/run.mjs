// End-to-end checks of the admin console in headless Chromium (Debian's package, driven by playwright-core)
// against a real stack. Started by tests/e2e/test_admin_browser.py, which starts the stack and the stand-ins and
// passes everything in the environment. Writes <ARTIFACTS_DIR>/results.json and one screenshot per screen.
//
// Env: ADMIN_BASE_URL (gateway), ADMIN_EMAIL, ADMIN_PASSWORD, ARTIFACTS_DIR, AUDIO_FILE, DOC_FILE, DOC_PHRASE,
// TELEGRAM_STANDIN (its /_calls lists what it received), CHROMIUM (default /usr/bin/chromium),
// E2E_GROUPS (comma list of groups; unset, empty or "all": every group).
//
// Groups: `core` and `channels` below, then one module per group, admin/e2e/<group>.mjs, registered in MODULES by
// one line. A module's default export is `async (h) => {...}` where `h` holds the shared helpers (page, check,
// until, assert, apiCall, shot, nav, telegramUpdate, telegramCalls, telegramChannel, env, BASE, ART, RUN); it runs
// in the same browser and stack, signed in as the admin, after core and channels.
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("ADMIN_BASE_URL").replace(/\/$/, "");
const ART = env("ARTIFACTS_DIR");
const MODULES = {
  // group: module (admin/e2e/<group>.mjs), one line each
  dashboard: "./dashboard.mjs",
  live: "./live.mjs",
  widget: "./widget.mjs",
  screens: "./screens.mjs",
  images: "./images.mjs",
};
const ALL = ["core", "channels", ...Object.keys(MODULES)];
const GROUPS = new Set(["", "all"].includes(env("E2E_GROUPS", "")) ? ALL : env("E2E_GROUPS", "").split(","));
mkdirSync(ART, { recursive: true });

const results = [];
// Telegram chat ids unique per run: a re-run against the same stack must not land in the previous run's
// conversation (one open thread per contact). Reported in results.json for the pytest side.
const RUN = Date.now() % 1_000_000;
const CHATS = { takeover: 500_000_000 + RUN * 2, buffer: 500_000_001 + RUN * 2 };
let page;
let context;

async function shot(name) {
  await page.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
}

async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
    return true;
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - started, error: String(err?.stack ?? err).slice(0, 3000) });
    console.log(`FAIL ${name}: ${String(err?.message ?? err).split("\n")[0]}`);
    await shot(`FAILED-${name}`).catch(() => {});
    return false;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

async function until(fn, what, timeout = 30_000, every = 250) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

async function accessToken() {
  return page.evaluate(() => JSON.parse(localStorage.getItem("atende.session")).access_token);
}

async function apiCall(method, path, body, headers = {}) {
  const token = await accessToken();
  const resp = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

async function telegramCalls() {
  const resp = await fetch(`${env("TELEGRAM_STANDIN")}/_calls`);
  return resp.json();
}

const nav = (label) => page.locator("nav.sidenav").getByRole("link", { name: label, exact: true });

async function main() {
  const userDataDir = mkdtempSync(join(tmpdir(), "atende-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
    locale: "en-US",
    acceptDownloads: true,
  });
  context.setDefaultTimeout(20_000);
  page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("pageerror", (err) => {
    console.log(`page error: ${String(err?.stack ?? err).slice(0, 600)}`);
    consoleErrors.push(String(err?.stack ?? err).slice(0, 1500));
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") console.log(`console error: ${msg.text().slice(0, 1500)}`);
  });

  try {
    const loggedIn = await check("login", async () => {
      await page.goto(`${BASE}/admin/`);
      await page.waitForURL(/\/admin\/login$/);
      await shot("login");
      if (process.env.E2E_SKIP_WRONG_LOGIN !== "1") {
        // A different, unknown account for the wrong password: auth's per-account brute-force limit (5 failures
        // in 5 minutes) must never lock out the admin this run (or the next run against the same stack) needs.
        await page.getByLabel("Email").fill(`nobody-${Date.now()}@admin-e2e.example.com`);
        await page.getByLabel("Password").fill("wrong-password");
        await page.getByRole("button", { name: "Log in" }).click();
        const alert = page.getByRole("alert");
        await alert.waitFor();
        assert(/password|credentials|invalid/i.test(await alert.innerText()), "the problem detail is shown");
        await shot("login-error");
      }
      await page.getByLabel("Email").fill(env("ADMIN_EMAIL"));
      await page.getByLabel("Password").fill(env("ADMIN_PASSWORD"));
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Dashboard" }).waitFor();
      await page.locator(".stats .stat").first().waitFor();
      await page.locator(".charts, .empty-chart").first().waitFor(); // the charts' chunk loads after the numbers
      await shot("dashboard");
    });
    if (!loggedIn) return;

    if (GROUPS.has("core")) await core();
    if (GROUPS.has("channels")) await channels();
    for (const [group, file] of Object.entries(MODULES)) {
      if (!GROUPS.has(group)) continue;
      const { default: run } = await import(file);
      await run(helpers());
    }

    await check("no uncaught page errors", async () => {
      assert(consoleErrors.length === 0, `page errors: ${consoleErrors.join(" | ")}`);
    });
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

async function core() {
  await check("assistant and streamed try-it answer", async () => {
    await nav("Assistants").click();
    await page.getByRole("heading", { name: "Assistants" }).waitFor();
    await page.getByLabel("Name").fill("E2E Concierge");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { name: "E2E Concierge" }).waitFor();
    await page.getByLabel("Instructions").fill("You are a polite concierge. Answer briefly.");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved").waitFor();
    // Record every text the answer bubble shows while it streams.
    await page.evaluate(() => {
      window.__snapshots = [];
      const log = document.querySelector(".tryit .chat-log");
      new MutationObserver(() => {
        const b = document.querySelectorAll(".tryit .bubble.assistant");
        const last = b[b.length - 1];
        if (last) window.__snapshots.push({ text: last.textContent, streaming: last.classList.contains("streaming") });
      }).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await page.getByLabel("Message").fill("What time do you open on Saturdays?");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator(".tryit .bubble.assistant:not(.streaming)");
    await answer.waitFor();
    const final = (await answer.innerText()).trim();
    assert(final.startsWith("Stand-in answer") && final.includes("What time do you open on Saturdays?"), `final answer: ${final}`);
    const snaps = await page.evaluate(() => window.__snapshots);
    const partial = snaps.filter((s) => s.streaming && s.text.replace("▍", "").trim().length > 0 && s.text.replace("▍", "").trim().length < final.length);
    assert(partial.length >= 2, `the answer grew while streaming (${snaps.length} snapshots, ${partial.length} partial)`);
    await shot("assistant-try-it");
  });

  await check("API key shown once", async () => {
    await nav("API keys").click();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    const keyName = `E2E key ${Date.now()}`; // unique: re-runs against one stack keep older keys
    await page.getByLabel("Name").fill(keyName);
    await page.getByRole("checkbox", { name: "write" }).check();
    await page.getByRole("button", { name: "Create key" }).click();
    const keyEl = page.getByTestId("new-key");
    await keyEl.waitFor();
    const key = (await keyEl.innerText()).trim();
    assert(/^atd_\S{20,}$/.test(key), `key format: ${key.slice(0, 8)}…`);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByRole("button", { name: "Copied" }).waitFor();
    await shot("api-key-created");
    // The key works through the gateway ...
    const resp = await fetch(`${BASE}/api/v1/assistants`, { headers: { "X-API-Key": key } });
    assert(resp.status === 200, `the new key authenticates (HTTP ${resp.status})`);
    // ... and is never shown again: not after closing the panel, not after a reload, not by the API.
    await page.getByRole("button", { name: "I saved it" }).click();
    await page.locator("table.list").getByText(keyName).waitFor();
    assert(!(await page.content()).includes(key), "the key is gone from the page");
    await page.reload();
    await page.locator("table.list").getByText(keyName).waitFor();
    assert(!(await page.content()).includes(key), "the key is not shown after a reload");
    const list = await apiCall("GET", "/api/v1/api-keys");
    assert(!JSON.stringify(list.body).includes(key), "the list API never returns the key");
    await shot("api-keys");
  });

  await check("transcription upload, progress to 100%, SRT download", async () => {
    await nav("Transcriptions").click();
    await page.getByRole("heading", { name: "Transcriptions" }).waitFor();
    await page.getByLabel("Audio or video file").setInputFiles(env("AUDIO_FILE"));
    await page.getByRole("button", { name: "Upload" }).click();
    // The upload bar reaches 100% (it stays briefly after the upload).
    await page.getByRole("progressbar", { name: "Upload" }).waitFor();
    await until(
      async () => (await page.getByRole("progressbar", { name: "Upload" }).getAttribute("aria-valuenow")) === "100",
      "upload progress 100%",
      30_000,
      50,
    );
    const job = page.locator(".job").first();
    const seen = new Set();
    await until(
      async () => {
        const bar = job.getByRole("progressbar", { name: "Transcription progress" });
        if (await bar.count()) seen.add(await bar.first().getAttribute("aria-valuenow"));
        return (await job.getAttribute("data-status")) === "completed";
      },
      "transcription completed",
      180_000,
      200,
    );
    const final = await job.getByRole("progressbar", { name: "Transcription progress" }).getAttribute("aria-valuenow");
    assert(final === "100", `progress at the end: ${final}`);
    await shot("transcriptions");
    const [download] = await Promise.all([page.waitForEvent("download"), job.getByRole("button", { name: "SRT" }).click()]);
    const srt = readFileSync(await download.path(), "utf8");
    writeFileSync(join(ART, "transcription.srt"), srt);
    assert(/^1\s*\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}/m.test(srt), `SRT shape: ${srt.slice(0, 80)}`);
    assert(/pizza/i.test(srt), `the SRT has the spoken words: ${srt.slice(0, 200)}`);
    // The detail screen lists segments with timestamps.
    await job.getByRole("link").first().click();
    await page.locator("table.segments tbody tr").first().waitFor();
    await shot("transcription-detail");
  });

  await check("document upload, indexing, found by search with scores", async () => {
    await nav("Knowledge").click();
    await page.getByRole("heading", { name: "Knowledge" }).waitFor();
    await page.getByLabel("Document (PDF, DOCX, TXT, MD)").setInputFiles(env("DOC_FILE"));
    await page.getByRole("button", { name: "Upload" }).click();
    // This file's row (the demo FAQ may be listed and ready already).
    await page.locator('.docs li[data-status="ready"]').filter({ hasText: basename(env("DOC_FILE")) }).waitFor({ timeout: 120_000 });
    await page.getByLabel("Query").fill(env("DOC_PHRASE"));
    for (const mode of ["hybrid", "keyword", "semantic"]) {
      await page.getByLabel("Mode").selectOption(mode);
      await page.getByRole("button", { name: "Search" }).click();
      const hit = page.locator(".result").filter({ hasText: "Zorblax" }).first();
      await hit.waitFor();
      const score = Number((await hit.locator(".score").innerText()).replace(",", "."));
      assert(score > 0, `${mode} score shown: ${score}`);
      if (mode === "hybrid") await shot("knowledge-search");
    }
  });

  await check("every screen renders (desktop and phone width, deep links)", async () => {
    const me = await apiCall("GET", "/api/v1/auth/me");
    const screens = [
      ["dashboard", "/admin/", "Dashboard"],
      ["inbox", "/admin/inbox", "Inbox"],
      ["buffers", "/admin/buffers", "Live buffers"],
      ["assistants", "/admin/assistants", "Assistants"],
      ["channels", "/admin/channels", "Channels"],
      ["transcriptions-list", "/admin/transcriptions", "Transcriptions"],
      ["knowledge", "/admin/knowledge", "Knowledge"],
      ["members", "/admin/members", "Members and roles"],
      ["api-keys-list", "/admin/api-keys", "API keys"],
      ["tenants", "/admin/tenants", "Tenants"],
      ["tenant-settings", `/admin/tenants/${me.body.tenant_id}`, null],
      ["logs", "/admin/logs", "Logs"],
    ];
    for (const [name, path, heading] of screens) {
      await page.goto(`${BASE}${path}`); // a full load: the gateway's history fallback serves every deep link
      if (heading) await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      else await page.locator("form.card").first().waitFor();
      await page.locator(".state.loading").waitFor({ state: "detached" });
      const errors = await page.locator(".state.error").count();
      assert(errors === 0, `${name} shows an error: ${errors ? await page.locator(".state.error").first().innerText() : ""}`);
      await shot(`screen-${name}`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, path] of [["dashboard", "/admin/"], ["inbox", "/admin/inbox"], ["assistants", "/admin/assistants"]]) {
      await page.goto(`${BASE}${path}`);
      await page.locator(".content h2").first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${name} fits a phone (overflow ${overflow}px)`);
      await shot(`phone-${name}`);
    }
    await page.getByRole("button", { name: "Menu" }).click();
    await nav("Knowledge").waitFor();
    await shot("phone-menu");
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  await check("Portuguese (pt-BR) switch", async () => {
    await page.goto(`${BASE}/admin/`);
    await page.getByLabel("Language").selectOption("pt-BR");
    await page.getByRole("heading", { name: "Painel" }).waitFor();
    await nav("Caixa de entrada").waitFor();
    await shot("dashboard-pt-BR");
    await page.getByLabel("Idioma").selectOption("en");
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  });
}

async function telegramUpdate(channelId, secret, chatId, text, updateId) {
  const resp = await fetch(`${BASE}/webhooks/telegram/${channelId}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret },
    body: JSON.stringify({
      update_id: updateId,
      message: {
        message_id: updateId,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: "private", first_name: "Maria" },
        from: { id: chatId, is_bot: false, first_name: "Maria" },
        text,
      },
    }),
  });
  assert(resp.ok, `webhook accepted the update (HTTP ${resp.status}: ${await resp.text()})`);
}

/** A Telegram channel made through the API with its webhook set; returns what a webhook call needs. */
async function telegramChannel(name) {
  const created = await apiCall("POST", "/api/v1/channels", {
    name: `${name} ${Date.now()}`,
    type: "telegram",
    credentials: { bot_token: "123456789:AAE2E-stand-in-token-0123456789" },
  });
  assert(created.status === 201, `channel created (HTTP ${created.status}: ${JSON.stringify(created.body)})`);
  const id = created.body.id;
  const set = await apiCall("POST", `/api/v1/channels/${id}/telegram/set-webhook`);
  assert(set.status === 200, `webhook set (HTTP ${set.status}: ${JSON.stringify(set.body)})`);
  const call = (await telegramCalls()).filter((c) => c.method === "setWebhook" && c.params.url.endsWith(`/webhooks/telegram/${id}`)).pop();
  assert(call, "setWebhook reached the stand-in");
  return { id, secret: call.params.secret_token };
}

function helpers() {
  return { page, context, check, until, assert, apiCall, accessToken, shot, nav, telegramUpdate, telegramCalls, telegramChannel, env, BASE, ART, RUN };
}

async function channels() {
  let channelId;
  let secret;
  const ok = await check("Telegram channel with webhook URL, webhook set", async () => {
    await page.goto(`${BASE}/admin/channels`);
    await page.getByRole("heading", { name: "Channels" }).waitFor();
    const channelName = `E2E Telegram ${Date.now()}`; // unique: re-runs against one stack keep older channels
    await page.getByLabel("Name").fill(channelName);
    await page.getByLabel("Bot token").fill("123456789:AAE2E-stand-in-token-0123456789"); // <digits>:<20+ chars>
    await page.getByRole("button", { name: "Create" }).click();
    const card = page.locator("[data-channel]").filter({ hasText: channelName });
    await card.waitFor();
    channelId = await card.getAttribute("data-channel");
    assert((await card.locator("code").innerText()).includes(`/webhooks/telegram/${channelId}`), "webhook URL shown");
    await card.getByRole("button", { name: "Set Telegram webhook" }).click();
    await card.getByText(/Webhook registered/).waitFor();
    const calls = await telegramCalls();
    const set = calls.filter((c) => c.method === "setWebhook").pop();
    assert(set && set.params.url.endsWith(`/webhooks/telegram/${channelId}`), "setWebhook reached the stand-in");
    secret = set.params.secret_token;
    await shot("channels");
  });
  if (!ok) return;

  await check("Telegram message appears live; AI off; agent reply reaches Telegram", async () => {
    await page.goto(`${BASE}/admin/inbox`);
    await page.getByRole("heading", { name: "Inbox" }).waitFor();
    await page.locator(".inbox-list .state.loading").waitFor({ state: "detached" });
    const links = () => page.locator(".threads li a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    const before = new Set(await links());
    await telegramUpdate(channelId, secret, CHATS.takeover, "Oi, vocês entregam no sábado?", 9001);
    // No reload: the live feed (GET /api/v1/events) refetches the inbox, and the new conversation shows up by itself.
    // Generous: the message goes webhook -> channels -> chat's worker -> live feed, on a shared, busy machine.
    const href = await until(async () => (await links()).find((h) => !before.has(h)), "a new conversation is listed", 90_000);
    const item = page.locator(".threads li").filter({ has: page.locator(`a[href="${href}"]`) });
    assert(/telegram/.test(await item.innerText()), "the new conversation is a Telegram one");
    await item.getByRole("link").click();
    await page.locator('.bubble[data-role="user"]').filter({ hasText: "entregam no sábado" }).waitFor();
    await shot("inbox-thread");
    const toggle = page.getByRole("checkbox", { name: "AI answers" });
    if (await toggle.isChecked()) await toggle.uncheck();
    await page.getByText("AI off (human takeover)").waitFor();
    const reply = `Olá Maria, entregamos sim! (${Date.now()})`;
    await page.getByLabel("Reply as agent").fill(reply);
    await page.getByRole("button", { name: "Send reply" }).click();
    await page.locator('.bubble[data-role="agent"]').filter({ hasText: reply }).waitFor();
    await until(
      async () => (await telegramCalls()).some((c) => c.method === "sendMessage" && String(c.params.chat_id) === String(CHATS.takeover) && c.params.text === reply),
      "the stand-in Telegram received the agent's reply",
      90_000,
    );
    await shot("inbox-agent-reply");
  });

  await check("live buffer with countdown, force flush answers", async () => {
    const me = await apiCall("GET", "/api/v1/auth/me");
    const patch = await apiCall("PATCH", `/api/v1/tenants/${me.body.tenant_id}`, { buffer_enabled: true, buffer_seconds: 60, buffer_max_wait_seconds: 120 });
    assert(patch.status === 200, `buffer enabled (HTTP ${patch.status})`);
    await page.goto(`${BASE}/admin/buffers`);
    await page.getByRole("heading", { name: "Live buffers" }).waitFor();
    await telegramUpdate(channelId, secret, CHATS.buffer, "Quero pedir uma pizza", 9002);
    await telegramUpdate(channelId, secret, CHATS.buffer, "grande, de calabresa", 9003);
    // This conversation's buffer (the one of the first Telegram message may still be flushing).
    const card = page.locator(".buffer").filter({ hasText: "Quero pedir uma pizza" });
    await card.waitFor({ timeout: 90_000 });
    const first = Number(await card.locator(".countdown").getAttribute("data-seconds"));
    assert(first > 0 && first <= 60, `countdown shown: ${first}s`);
    await until(async () => Number(await card.locator(".countdown").getAttribute("data-seconds")) < first, "the countdown ticks", 5000);
    await shot("buffers-live");
    await card.getByRole("button", { name: "Flush now" }).click();
    await card.waitFor({ state: "detached", timeout: 60_000 });
    await until(
      async () => (await telegramCalls()).some((c) => c.method === "sendMessage" && String(c.params.chat_id) === String(CHATS.buffer) && /Stand-in answer/.test(c.params.text)),
      "the AI answer to the flushed buffer reached Telegram",
      90_000,
    );
    await apiCall("PATCH", `/api/v1/tenants/${me.body.tenant_id}`, { buffer_enabled: false });
    await shot("buffers-flushed");
  });
}

try {
  await main();
} catch (err) {
  results.push({ name: "harness", ok: false, error: String(err?.stack ?? err) });
  console.error(err);
}
writeFileSync(join(ART, "results.json"), JSON.stringify({ results, chats: CHATS }, null, 2));
process.exit(results.every((r) => r.ok) && results.length > 0 ? 0 : 1);
