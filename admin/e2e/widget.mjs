// Browser checks of the web chat: the console's web channel (embed snippet, allowed origins, colour, greeting, live
// preview) and the embeddable widget on demo pages served here, on their own ports (other origins than the
// gateway's): a visitor's message answered by the AI, an agent's takeover reply arriving live, safe text, a page on
// a foreign origin getting nothing (403), a dropped connection resuming without losing a message, mobile + pt-BR.
// Registered in run.mjs as group `widget`; `h` holds run.mjs's shared helpers.
import { createServer } from "node:http";

// A real 8x8 PNG: the API checks the bytes (shared/images.py), so a fake one would be refused.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGM8ISfHgA0wYRUdtBIA0MoBFD5jqJkAAAAASUVORK5CYII=", "base64");
const HOSTILE_CSS =
  "*{font-size:40px!important;color:red!important;font-family:serif!important;position:static!important}" +
  "body>*:not(h1):not(p),div,button,textarea{display:none!important}";

/** A demo site on 127.0.0.1:<port>: `/?key=K&lang=L` is a page whose only chat is the widget's script tag. */
async function demoSite(gateway) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const key = (url.searchParams.get("key") ?? "").replace(/[^\w-]/g, "");
    const lang = (url.searchParams.get("lang") ?? "en").replace(/[^\w-]/g, "");
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(
      `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
        `<title>Demo shop</title><style>${HOSTILE_CSS}</style></head><body><h1>Demo shop</h1><p>Our products.</p>` +
        `<script src="${gateway}/widget.js" data-key="${key}" async></script></body></html>`,
    );
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

export default async function widget(h) {
  const { page, context, check, until, assert, apiCall, shot, BASE } = h;
  const site = await demoSite(BASE);
  const foreign = await demoSite(BASE); // same pages, another port: an origin the channel does not allow
  const RUNID = Date.now();
  const greeting = `Olá! Hi, how can we help? <b>${RUNID}</b>`;
  let key;
  let channelId;
  let visitor; // the demo page with the widget, in its own tab
  let threadId;
  const pages = [];
  const newPage = async () => {
    const p = await context.newPage();
    pages.push(p);
    p.on("pageerror", (err) => console.log(`widget page error: ${String(err?.stack ?? err).slice(0, 600)}`));
    return p;
  };
  // Stored messages only: a sent one shows as `.pending` until the server confirms it (both can be there a moment).
  const msgs = (p, role) => p.locator(`[data-atende-widget] .msg:not(.pending)[data-role="${role}"]`);
  try {
    const created = await check("web channel: embed snippet, allowed origins, colour, greeting, live preview", async () => {
      await page.goto(`${BASE}/admin/channels`);
      await page.getByRole("heading", { name: "Channels" }).waitFor();
      const name = `E2E Web ${RUNID}`;
      await page.getByLabel("Type").selectOption("web");
      await page.getByLabel("Name").fill(name);
      await page.getByRole("button", { name: "Create" }).click();
      const card = page.locator('[data-type="web"]').filter({ hasText: name });
      await card.waitFor();
      channelId = await card.getAttribute("data-channel");
      const snippet = (await card.getByTestId("embed-snippet").innerText()).trim();
      key = /data-key="([^"]+)"/.exec(snippet)?.[1];
      assert(key && snippet === `<script src="${BASE}/widget.js" data-key="${key}" async></script>`, `snippet: ${snippet}`);
      await card.getByRole("button", { name: "Copy" }).click();
      await card.getByRole("button", { name: "Copied" }).waitFor();
      // The preview needs the console's own origin allowed; before that it says so.
      await card.getByText("which is not an allowed origin").waitFor();
      await card.getByLabel("Allowed origins").fill(`${site.origin}/\n`);
      await card.getByLabel("Colour").fill("#0f766e");
      await card.getByLabel("Greeting").fill(greeting);
      await card.getByRole("button", { name: "Save widget settings" }).click();
      await card.getByRole("status").filter({ hasText: "Saved" }).waitFor();
      // The visitor's messages are answered at once (no debounce) in this run.
      const patch = await apiCall("PATCH", `/api/v1/channels/${channelId}`, { settings: { buffer_enabled: false } });
      assert(patch.status === 200, `buffer off (HTTP ${patch.status})`);
      const saved = (await apiCall("GET", `/api/v1/channels/${channelId}`)).body.settings;
      assert(JSON.stringify(saved.allowed_origins) === JSON.stringify([site.origin]), `origins saved canonical: ${JSON.stringify(saved)}`);
      assert(saved.color === "#0f766e" && saved.greeting === greeting, `look saved: ${JSON.stringify(saved)}`);
      await card.getByRole("button", { name: `Allow ${new URL(BASE).origin} for the preview` }).click();
      const frame = card.frameLocator("iframe.widget-preview");
      await frame.locator('.msg.greeting').filter({ hasText: String(RUNID) }).waitFor();
      await frame.getByRole("dialog").waitFor();
      await shot("web-channel-preview");
    });
    if (!created) return;

    await check("widget on a foreign origin: the API answers 403 and nothing is shown", async () => {
      // The API refuses the page's origin (and grants it no CORS), so the page cannot even read the answer ...
      const refused = await fetch(`${BASE}/api/v1/widget/sessions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Origin: foreign.origin },
        body: JSON.stringify({ public_key: key }),
      });
      assert(refused.status === 403, `sessions from ${foreign.origin}: HTTP ${refused.status}`);
      assert(!refused.headers.get("access-control-allow-origin"), "no CORS grant for the foreign page");
      // ... and the widget on such a page shows nothing.
      const p = await newPage();
      const warned = new Promise((ok) => p.on("console", (m) => m.text().startsWith("atende widget: no chat on this page") && ok(true)));
      const sessions = [];
      p.on("request", (r) => r.url().endsWith("/api/v1/widget/sessions") && r.method() === "POST" && sessions.push(r));
      await p.goto(`${foreign.origin}/?key=${key}`);
      await warned;
      assert(sessions.length === 1, `the widget asked once (${sessions.length})`);
      assert((await p.locator("[data-atende-widget]").count()) === 0, "no widget on the foreign page");
      await p.close();
    });

    await check("widget on an allowed origin: isolated from the page's CSS, typing indicator, a visitor's message answered", async () => {
      visitor = await newPage();
      await visitor.goto(`${site.origin}/?key=${key}`);
      const bubble = visitor.getByRole("button", { name: "Open chat" });
      await bubble.waitFor();
      // The host page hides every div/button/textarea and blows fonts up: none of it reaches the shadow root.
      const look = await visitor.evaluate(() => {
        const root = document.querySelector("[data-atende-widget]").shadowRoot;
        const b = root.querySelector(".bubble");
        const style = getComputedStyle(b);
        return { display: style.display, bg: style.backgroundColor, font: getComputedStyle(root.querySelector(".panel")).fontSize };
      });
      assert(look.display === "flex" && look.font === "14px", `isolated: ${JSON.stringify(look)}`);
      assert(look.bg === "rgb(15, 118, 110)", `channel colour: ${look.bg}`);
      await bubble.click();
      const input = visitor.getByLabel("Message");
      await input.waitFor();
      assert(await input.evaluate((el) => el.getRootNode().activeElement === el), "opening focuses the message box");
      await visitor.locator("[data-atende-widget] .msg.greeting").filter({ hasText: String(RUNID) }).waitFor();
      const greet = visitor.locator("[data-atende-widget] .msg.greeting");
      assert((await greet.locator("b").count()) === 0, "the greeting's markup is text");
      assert((await visitor.locator('[data-atende-widget] [role="log"][aria-live="polite"]').count()) === 1, "an aria-live log");
      // Record whether the typing indicator shows while the assistant answers.
      await visitor.evaluate(() => {
        const typing = document.querySelector("[data-atende-widget]").shadowRoot.querySelector(".typing");
        window.__typingShown = false;
        new MutationObserver(() => {
          if (!typing.hidden) window.__typingShown = true;
        }).observe(typing, { attributes: true });
      });
      await input.fill(`Do you deliver on Sundays? ${RUNID}`);
      await input.press("Enter");
      await msgs(visitor, "user").filter({ hasText: `Sundays? ${RUNID}` }).waitFor();
      const answer = msgs(visitor, "assistant").filter({ hasText: "Stand-in answer" });
      await answer.waitFor({ timeout: 120_000 }); // through the whole pipeline (the stream workers run at idle priority)
      assert((await answer.innerText()).includes(`Sundays? ${RUNID}`), "the answer is to this message");
      assert(await visitor.evaluate(() => window.__typingShown), "the typing indicator showed before the answer");
      assert(await visitor.locator("[data-atende-widget] .typing").isHidden(), "and went away with it");
      await visitor.screenshot({ path: `${h.ART}/widget-desktop.png` });
      // Esc closes and gives the focus back to the bubble.
      await input.press("Escape");
      await visitor.getByRole("dialog").waitFor({ state: "hidden" });
      assert(await visitor.evaluate(() => document.querySelector("[data-atende-widget]").shadowRoot.activeElement?.classList.contains("bubble")), "focus back on the bubble");
    });

    await check("agent takes over in the console: the reply reaches the open widget live, unread badge, inert HTML", async () => {
      const threads = await apiCall("GET", "/api/v1/threads?channel=web&limit=50");
      assert(threads.status === 200, `threads (HTTP ${threads.status})`);
      for (const t of threads.body.items) {
        const m = await apiCall("GET", `/api/v1/threads/${t.id}/messages?limit=50`);
        if (JSON.stringify(m.body).includes(`Sundays? ${RUNID}`)) threadId = t.id;
        if (threadId) break;
      }
      assert(threadId, "the visitor's conversation is in the inbox with channel web");
      await page.goto(`${BASE}/admin/inbox/${threadId}`);
      await page.locator('.bubble[data-role="user"]').filter({ hasText: `Sundays? ${RUNID}` }).waitFor();
      const toggle = page.getByRole("checkbox", { name: "AI answers" });
      if (await toggle.isChecked()) await toggle.uncheck();
      await page.getByText("AI off (human takeover)").waitFor();
      const reply = `Sim, entregamos aos domingos! https://example.com/entregas (${RUNID})`;
      await page.getByLabel("Reply as agent").fill(reply);
      await page.getByRole("button", { name: "Send reply" }).click();
      await page.locator('.bubble[data-role="agent"]').filter({ hasText: reply }).waitFor();
      await shot("inbox-web-agent-reply");
      // The widget (panel closed, no reload) shows it: an unread badge, then the message with a safe link.
      await visitor.getByRole("button", { name: /Open chat \(1 unread\)/ }).waitFor({ timeout: 30_000 });
      await visitor.getByRole("button", { name: /Open chat/ }).click();
      const agent = msgs(visitor, "agent").filter({ hasText: `(${RUNID})` });
      await agent.waitFor();
      const link = agent.locator("a");
      assert((await link.getAttribute("href")) === "https://example.com/entregas", "the URL is a link");
      assert((await link.getAttribute("rel")).includes("noopener") && (await link.getAttribute("target")) === "_blank", "safe link");
      // Markup from the agent (or anyone) is shown as text: no element, no handler run.
      const evil = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> ${RUNID}`;
      const sent = await apiCall("POST", `/api/v1/threads/${threadId}/messages`, { content: evil, role: "agent" });
      assert(sent.status === 201, `agent reply via the API (HTTP ${sent.status})`);
      const inert = msgs(visitor, "agent").filter({ hasText: "onerror" });
      await inert.waitFor({ timeout: 30_000 });
      assert((await inert.innerText()).includes('<img src=x onerror="window.__pwned=1">'), "the markup shows as text");
      const found = await visitor.evaluate(() => ({
        pwned: window.__pwned,
        elements: document.querySelector("[data-atende-widget]").shadowRoot.querySelectorAll(".msg img, .msg script").length,
      }));
      assert(found.pwned === undefined && found.elements === 0, `inert: ${JSON.stringify(found)}`);
    });

    await check("the connection is cut (offline) and resumes without losing a message", async () => {
      const streams = [];
      visitor.on("request", (r) => r.url().includes("/api/v1/widget/stream") && streams.push(r.url()));
      await context.setOffline(true);
      const missed = `Enquanto você estava offline: pedido confirmado (${RUNID})`;
      try {
        await visitor.locator("[data-atende-widget] .status").filter({ hasText: "Offline" }).waitFor();
        const sent = await apiCall("POST", `/api/v1/threads/${threadId}/messages`, { content: missed, role: "agent" });
        assert(sent.status === 201, `agent reply while the visitor is offline (HTTP ${sent.status})`);
      } finally {
        await context.setOffline(false);
      }
      await page.goto(`${BASE}/admin/`); // the console tab was offline too: a fresh load for whatever runs next
      await msgs(visitor, "agent").filter({ hasText: missed }).waitFor({ timeout: 30_000 });
      assert(streams.length >= 1, "a new stream was opened after the drop");
      await visitor.locator("[data-atende-widget] .status").waitFor({ state: "hidden" });
      // Exactly once, in order after the earlier agent replies.
      const texts = await msgs(visitor, "agent").allInnerTexts();
      assert(texts.filter((x) => x.includes(missed)).length === 1, `once: ${texts.join(" | ")}`);
      assert(texts[texts.length - 1].includes(missed), `last: ${texts.join(" | ")}`);
    });

    await check("the visitor sends an image: shown in the widget, stored with the message in the console", async () => {
      await visitor.locator('[data-atende-widget] input[type="file"]').setInputFiles({ name: "produto.png", mimeType: "image/png", buffer: PNG });
      await visitor.locator("[data-atende-widget] .chip img").waitFor();
      const input = visitor.getByLabel("Message");
      await input.fill(`Foto do produto ${RUNID}`);
      await input.press("Enter");
      await msgs(visitor, "user").filter({ hasText: `Foto do produto ${RUNID}` }).locator("img").waitFor();
      assert((await visitor.locator("[data-atende-widget] .chip").count()) === 0, "the picked image left the composer");
      const stored = await until(async () => {
        const m = await apiCall("GET", `/api/v1/threads/${threadId}/messages?limit=200`);
        return m.body.items.find((x) => x.role === "user" && x.content.includes(`Foto do produto ${RUNID}`) && x.attachments?.length === 1);
      }, "the image stored with the visitor's message", 60_000);
      assert(stored.attachments[0].mime_type === "image/png", `attachment: ${JSON.stringify(stored.attachments)}`);
      await page.goto(`${BASE}/admin/inbox/${threadId}`);
      await page.locator('.bubble[data-role="user"]').filter({ hasText: `Foto do produto ${RUNID}` }).locator(".images img").waitFor();
      await shot("inbox-web-image");
    });

    await check("return visit resumes the conversation; phone width full-screen; pt-BR from the page; name and email", async () => {
      const p = await newPage();
      await p.setViewportSize({ width: 390, height: 844 });
      await p.goto(`${site.origin}/?key=${key}&lang=pt-BR`);
      // The visitor id is kept in localStorage: a new page (a return visit) opens the same conversation.
      await p.getByRole("button", { name: /Abrir o chat/ }).click();
      await msgs(p, "user").filter({ hasText: `Sundays? ${RUNID}` }).waitFor();
      await msgs(p, "agent").filter({ hasText: "pedido confirmado" }).waitFor();
      // Measured once the panel's opening animation (a short rise) has settled.
      const fills = (box) => box && Math.abs(box.x) < 2 && Math.abs(box.y) < 2 && Math.abs(box.width - 390) < 2 && Math.abs(box.height - 844) < 2;
      await until(async () => fills(await p.getByRole("dialog").boundingBox()), "the panel to fill a phone's screen", 5_000, 100);
      assert((await p.getByLabel("Mensagem").getAttribute("placeholder")) === "Digite sua mensagem…", "pt-BR strings");
      await p.screenshot({ path: `${h.ART}/widget-mobile.png` });
      // The optional name and email go to a new session of the same visitor.
      const posted = p.waitForRequest((r) => r.url().endsWith("/api/v1/widget/sessions") && r.method() === "POST");
      await p.getByRole("button", { name: "Seu nome e e-mail (opcional)" }).click();
      await p.getByLabel("Nome").fill("Maria Visitante");
      await p.getByLabel("E-mail").fill("maria@example.com");
      await p.getByRole("button", { name: "Salvar" }).click();
      const body = JSON.parse((await posted).postData());
      assert(body.name === "Maria Visitante" && body.email === "maria@example.com" && body.visitor_id, `session: ${JSON.stringify(body)}`);
      await p.locator("[data-atende-widget] .status").filter({ hasText: "Obrigado! Salvo." }).waitFor();
      await p.getByLabel("Mensagem").press("Escape");
      await p.getByRole("button", { name: /Abrir o chat/ }).waitFor();
    });
  } finally {
    for (const p of pages) await p.close().catch(() => {});
    await context.setOffline(false).catch(() => {});
    site.server.close();
    foreign.server.close();
  }
}
