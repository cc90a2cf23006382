// The live console in Chromium: the inbox and the open conversation update from GET /api/v1/events when a Telegram
// message arrives through the webhook (the stand-in Bot API), with no reload and no polling, and catch up after
// the connection dropped (the browser offline for a while).
export default async function live(h) {
  const { page, context, check, until, assert, shot, telegramChannel, telegramUpdate, BASE, RUN } = h;
  const chat = 600_000_000 + RUN; // a Telegram chat of this run only
  let threadHref;
  let channel; // { id, secret } of this module's Telegram channel

  await check("live: a webhook message appears in the inbox without reload or polling", async () => {
    const lists = []; // when the page asked for the conversation list
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (r.method() === "GET" && url.pathname === "/api/v1/threads") lists.push(Date.now());
    });
    await page.goto(`${BASE}/admin/inbox`);
    await page.getByRole("heading", { name: "Inbox" }).waitFor();
    await page.locator('[data-live="open"]').waitFor({ timeout: 30_000 });
    await page.locator(".inbox-list .state.loading").waitFor({ state: "detached" });
    await page.evaluate(() => (window.__sameDocument = true));
    const loaded = Date.now();
    channel = await telegramChannel("E2E live");
    const { id, secret } = channel;
    // An observation window longer than the 2 s poll this feed replaced: nothing re-reads the list meanwhile.
    const rest = 2500 - (Date.now() - loaded);
    if (rest > 0) await page.waitForTimeout(rest);
    const quiet = lists.filter((at) => at > loaded + 500);
    assert(quiet.length === 0, `the list was not re-read while nothing happened (${quiet.length} reads in ${Date.now() - loaded} ms)`);
    const links = () => page.locator(".threads li a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    const before = new Set(await links());
    const sent = Date.now();
    await telegramUpdate(id, secret, chat, "Olá, é ao vivo?", 7001);
    threadHref = await until(async () => (await links()).find((href) => !before.has(href)), "the new conversation is listed", 90_000);
    assert(await page.evaluate(() => window.__sameDocument === true), "no reload");
    const reads = lists.filter((at) => at > sent).length;
    assert(reads >= 1 && reads <= 6, `re-read on events only (${reads} reads since the message)`);
    await shot("live-inbox-new-conversation");
  });
  if (!threadHref) return;

  await check("live: the open conversation shows a new message and the AI answer by itself", async () => {
    await page.locator(`.threads a[href="${threadHref}"]`).click();
    await page.locator('.bubble[data-role="user"]').filter({ hasText: "é ao vivo" }).waitFor();
    const { id, secret } = channel;
    await telegramUpdate(id, secret, chat, "Segunda mensagem, sem recarregar", 7002);
    await page.locator('.bubble[data-role="user"]').filter({ hasText: "Segunda mensagem" }).waitFor({ timeout: 90_000 });
    await page.locator('.bubble[data-role="assistant"]').filter({ hasText: "Segunda mensagem" }).waitFor({ timeout: 90_000 });
    assert(await page.evaluate(() => window.__sameDocument === true), "no reload");
    await shot("live-thread");
  });

  await check("live: after a dropped connection the console reconnects and shows what it missed", async () => {
    await context.setOffline(true);
    await page.locator('[data-live="retrying"]').waitFor({ timeout: 60_000 }); // the watchdog or the network error
    const { id, secret } = channel;
    await telegramUpdate(id, secret, chat, "Enquanto você estava offline", 7003);
    await context.setOffline(false);
    await page.locator('[data-live="open"]').waitFor({ timeout: 60_000 });
    await page.locator('.bubble[data-role="user"]').filter({ hasText: "Enquanto você estava offline" }).waitFor({ timeout: 90_000 });
    assert(await page.evaluate(() => window.__sameDocument === true), "no reload");
    await shot("live-reconnected");
  });
}

