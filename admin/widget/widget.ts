// The chat widget: a bubble and a panel in a shadow root, a visitor session kept in localStorage, the conversation's
// history on open, and live answers over SSE that resume after a drop, an offline spell or a sleeping laptop.
import { ApiError, WidgetApi, type ChatMessage, type Session } from "./api";
import { backoff } from "./backoff";
import { encode, IMAGE_TYPES, MAX_IMAGES, type Picked } from "./images";
import { pickLocale, strings, type Key } from "./i18n";
import { CSS } from "./styles";
import { contrastOn, renderText, safeColor } from "./text";

export interface Options {
  base: string; // the gateway's origin (where widget.js came from)
  key: string; // the channel's public key
  locale?: string; // data-locale: overrides the channel's and the page's language
  name?: string; // data-name / data-email: a host page that knows its visitor
  email?: string;
}

interface Stored {
  visitor_id: string;
  token?: string;
  expires_at?: number; // ms since epoch
  issued_at?: number;
  session?: Session;
}

const CLIP =
  '<svg viewBox="0 0 24 24" aria-hidden="true" width="18" height="18"><path fill="none" stroke="currentColor" stroke-width="2" d="M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7"/></svg>';
const ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
const HOST_STYLE: [string, string][] = [
  ["all", "initial"],
  ["display", "block"],
  ["position", "fixed"],
  ["z-index", "2147483000"],
  ["right", "max(12px, min(20px, 3vw))"],
  ["bottom", "max(12px, min(20px, 3vw))"],
  ["width", "auto"],
  ["height", "auto"],
  ["font", '14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'],
  ["color", "#1f2328"],
];
const TYPING_MS = 8000;
// A page view within this long of the last session reuses it; later ones ask again (new settings, origin re-checked).
const SESSION_REUSE_MS = 10 * 60_000;
const RESUME_AFTER_HIDDEN_MS = 30_000;
const MAX_CHARS = 2000; // CHANNELS_WIDGET_MAX_TEXT_CHARS' default; a lower server cap answers 413, shown as such

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Widget {
  private api: WidgetApi;
  private storeKey: string;
  private stored: Stored | null = null;
  private t = strings("en");
  private host!: HTMLElement;
  private root!: ShadowRoot;
  private panel!: HTMLElement;
  private bubble!: HTMLButtonElement;
  private badge!: HTMLElement;
  private log!: HTMLElement;
  private typing!: HTMLElement;
  private status!: HTMLElement;
  private input!: HTMLTextAreaElement;
  private chips!: HTMLElement;
  private picked: Picked[] = [];
  private details!: HTMLFormElement;
  private messages = new Map<string, ChatMessage>();
  private lastId: string | undefined;
  private unread = 0;
  private historyLoaded = false;
  private es: EventSource | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private hiddenAt = 0;

  constructor(private opts: Options) {
    this.api = new WidgetApi(opts.base);
    this.storeKey = `atende.widget.${opts.key}`;
  }

  /** Start a session; only an allowed page (the API answers 201) gets a widget at all. */
  async start(): Promise<boolean> {
    this.stored = this.load();
    let session: Session;
    try {
      session = await this.session();
    } catch (err) {
      console.warn(`atende widget: no chat on this page (${err instanceof ApiError ? err.status : "network"}: ${String((err as Error).message)})`);
      return false;
    }
    this.render(session);
    this.connect();
    addEventListener("online", () => this.reconnect(true));
    addEventListener("offline", () => this.goOffline());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.hiddenAt = Date.now();
      else if (!this.es || this.es.readyState === EventSource.CLOSED || Date.now() - this.hiddenAt > RESUME_AFTER_HIDDEN_MS)
        this.reconnect(true);
    });
    return true;
  }

  // ----------------------------------------------------------------------------------------------- session

  private load(): Stored | null {
    try {
      const raw = localStorage.getItem(this.storeKey);
      return raw ? (JSON.parse(raw) as Stored) : null;
    } catch {
      return null;
    }
  }

  private save(): void {
    try {
      localStorage.setItem(this.storeKey, JSON.stringify(this.stored));
    } catch {
      /* storage disabled: the visit still works, a return visit starts over */
    }
  }

  /** A recent stored session, else a new one for the same visitor (a return visit resumes the conversation). */
  private async session(fresh = false, extra: { name?: string; email?: string } = {}): Promise<Session> {
    const s = this.stored;
    const now = Date.now();
    if (!fresh && s?.token && s.session && (s.expires_at ?? 0) - now > 60_000 && now - (s.issued_at ?? 0) < SESSION_REUSE_MS)
      return s.session;
    const body = { public_key: this.opts.key, visitor_id: s?.visitor_id, name: this.opts.name, email: this.opts.email, ...extra };
    const session = await this.api.session(JSON.parse(JSON.stringify(body)));
    this.stored = {
      visitor_id: session.visitor_id,
      token: session.visitor_token,
      expires_at: Date.now() + session.expires_in * 1000,
      issued_at: Date.now(),
      session,
    };
    this.save();
    return session;
  }

  /** The current token while it has a minute left, else one from a new session. */
  private async token(): Promise<string> {
    const s = this.stored;
    if (s?.token && (s.expires_at ?? 0) - Date.now() > 60_000) return s.token;
    return (await this.session(true)).visitor_token;
  }

  /** Run `call` with the token; a 401 (expired or revoked token) gets one fresh session and one retry. */
  private async authed<T>(call: (token: string) => Promise<T>): Promise<T> {
    try {
      return await call(await this.token());
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      return call((await this.session(true)).visitor_token);
    }
  }

  // ------------------------------------------------------------------------------------------------ render

  private render(session: Session): void {
    const look = session.channel ?? {};
    this.t = strings(pickLocale(this.opts.locale, document.documentElement.lang, look.locale));
    const t = this.t;

    // Our own tag, and inline !important styles: the only ones that beat the page's own !important rules on it.
    this.host = document.createElement("atende-chat");
    this.host.setAttribute("data-atende-widget", "");
    for (const [prop, value] of HOST_STYLE) this.host.style.setProperty(prop, value, "important");
    this.root = this.host.attachShadow({ mode: "open" });
    const color = safeColor(look.color);
    if (color) {
      this.host.style.setProperty("--accent", color);
      this.host.style.setProperty("--on-accent", contrastOn(color));
    }
    this.adoptStyles();

    this.panel = el("div", { class: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "atende-title", id: "atende-panel" });
    this.panel.hidden = true;
    const header = el("header");
    header.append(el("h2", { id: "atende-title" }, t("title")));
    const who = el("button", { type: "button", class: "link", "aria-expanded": "false" }, t("details"));
    const close = el("button", { type: "button", class: "close", "aria-label": t("close") }, "×");
    header.append(who, close);

    this.details = this.detailsForm();
    this.details.hidden = true;
    who.addEventListener("click", () => {
      this.details.hidden = !this.details.hidden;
      who.setAttribute("aria-expanded", String(!this.details.hidden));
      if (!this.details.hidden) this.details.querySelector("input")?.focus();
    });

    this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": t("title") });
    const greeting = (typeof look.greeting === "string" ? look.greeting.trim() : "") || t("greeting");
    if (greeting) {
      const g = el("div", { class: "msg assistant greeting" });
      renderText(g, greeting);
      this.log.append(g);
    }
    this.typing = el("div", { class: "typing", "aria-live": "polite" }, t("typing"));
    this.typing.hidden = true;
    this.status = el("div", { class: "status", role: "status" });
    this.status.hidden = true;

    const form = el("form", { class: "composer" });
    const label = el("label", { class: "sr", for: "atende-input" }, t("message"));
    this.input = el("textarea", { id: "atende-input", rows: "1", placeholder: t("placeholder"), maxlength: String(MAX_CHARS) });
    const send = el("button", { type: "submit", class: "send" }, t("send"));
    const files = el("input", { type: "file", accept: IMAGE_TYPES.join(","), multiple: "", class: "sr", tabindex: "-1", "aria-hidden": "true" });
    const attach = el("button", { type: "button", class: "attach", "aria-label": t("attach"), title: t("attach") });
    attach.innerHTML = CLIP; // a constant
    attach.addEventListener("click", () => files.click());
    files.addEventListener("change", () => {
      for (const file of files.files ?? []) this.pick(file);
      files.value = "";
    });
    this.chips = el("div", { class: "chips" });
    this.chips.hidden = true;
    form.append(label, files, attach, this.input, send);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.submit();
      }
    });

    this.panel.append(header, this.details, this.log, this.typing, this.status, this.chips, form);
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        this.close();
      }
    });

    this.bubble = el("button", { type: "button", class: "bubble", "aria-controls": "atende-panel", "aria-expanded": "false", "aria-label": t("open") });
    this.bubble.innerHTML = ICON; // a constant: never message content
    this.badge = el("span", { class: "badge", "aria-hidden": "true" });
    this.badge.hidden = true;
    this.bubble.append(this.badge);
    this.bubble.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));

    this.root.append(this.panel, this.bubble);
    document.body.append(this.host);
  }

  /** Constructable stylesheets pass a host page's strict CSP (no inline styles); a <style> element otherwise. */
  private adoptStyles(): void {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      this.root.adoptedStyleSheets = [sheet];
    } catch {
      this.root.append(el("style", {}, CSS));
    }
  }

  private detailsForm(): HTMLFormElement {
    const t = this.t;
    const form = el("form", { class: "details" });
    const field = (key: Key, type: string, autocomplete: string) => {
      const label = el("label", {}, t(key));
      const input = el("input", { type, name: key, autocomplete, maxlength: "200" });
      label.append(input);
      form.append(label);
      return input;
    };
    const name = field("name", "text", "name");
    const email = field("email", "email", "email");
    const save = el("button", { type: "submit", class: "save" }, t("save"));
    form.append(save);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await this.session(true, { name: name.value.trim() || undefined, email: email.value.trim() || undefined });
        this.say(t("saved"));
        form.hidden = true;
        this.reconnect(false);
      } catch (err) {
        this.say(err instanceof ApiError ? err.message : t("failed"));
      }
    });
    return form;
  }

  /** One status line; a connection notice is cleared by the stream opening, anything else stays until replaced. */
  private say(text: string | null, connection = false): void {
    this.status.textContent = text ?? "";
    this.status.hidden = !text;
    this.status.dataset.connection = String(connection);
  }

  // ------------------------------------------------------------------------------------------------ panel

  open(): void {
    this.panel.hidden = false;
    this.host.classList.add("open");
    this.bubble.setAttribute("aria-expanded", "true");
    this.bubble.setAttribute("aria-label", this.t("close"));
    this.unread = 0;
    this.showBadge();
    this.input.focus();
    if (!this.historyLoaded) void this.loadHistory();
    this.scrollDown();
  }

  close(): void {
    this.panel.hidden = true;
    this.host.classList.remove("open");
    this.bubble.setAttribute("aria-expanded", "false");
    this.bubble.setAttribute("aria-label", this.t("open"));
    this.bubble.focus();
  }

  private showBadge(): void {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = String(this.unread);
    const label = this.panel.hidden ? this.t("open") : this.t("close");
    this.bubble.setAttribute("aria-label", this.unread ? `${label} (${this.t("unread", { n: this.unread })})` : label);
  }

  private async loadHistory(): Promise<void> {
    try {
      const items = await this.authed((token) => this.api.history(token));
      this.historyLoaded = true;
      for (const m of items) this.add(m, false);
      this.scrollDown();
    } catch {
      this.say(this.t("reconnecting"), true);
    }
  }

  /** One element per id whatever route it came by: live ones at the end, history ones placed by their time. */
  private add(m: ChatMessage, live: boolean): void {
    if (!m?.id || this.messages.has(m.id)) return;
    this.messages.set(m.id, m);
    const node = this.bubbleFor(m);
    const at = Date.parse(m.created_at) || Date.now();
    node.dataset.at = String(at);
    const later = live ? undefined : [...this.log.querySelectorAll<HTMLElement>(".msg[data-at]")].find((n) => Number(n.dataset.at) > at);
    if (later) later.before(node);
    else this.log.append(node);
    this.lastId = [...this.log.querySelectorAll<HTMLElement>(".msg[data-id]")].pop()?.dataset.id || this.lastId;
    if (live && m.role !== "user") {
      this.typing.hidden = true;
      if (this.panel.hidden) {
        this.unread += 1;
        this.showBadge();
      }
    }
    this.scrollDown();
  }

  private bubbleFor(m: ChatMessage): HTMLElement {
    const role = m.role === "agent" || m.role === "user" ? m.role : "assistant";
    const node = el("div", { class: `msg ${role}`, "data-role": role });
    if (m.id) node.dataset.id = m.id;
    const who = el("span", { class: role === "user" ? "who sr" : "who" }, this.t(role === "user" ? "you" : role));
    node.append(who);
    for (const url of m.images ?? []) node.append(el("img", { src: url, alt: this.t("image") }));
    renderText(node, m.images?.length ? (m.content ?? "").replace(/^(\[image\]\n?)+/, "") : (m.content ?? ""));
    return node;
  }

  private scrollDown(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** An image for the next message: a real image type, at most MAX_IMAGES, shown as a removable thumbnail. */
  private pick(file: File): void {
    if (!IMAGE_TYPES.includes(file.type)) return this.say(this.t("notImage"));
    if (this.picked.length >= MAX_IMAGES) return;
    const item: Picked = { file, url: URL.createObjectURL(file) };
    this.picked.push(item);
    const chip = el("span", { class: "chip" });
    const remove = el("button", { type: "button", "aria-label": this.t("remove") }, "×");
    remove.addEventListener("click", () => {
      this.picked = this.picked.filter((p) => p !== item);
      chip.remove();
      this.chips.hidden = this.picked.length === 0;
      this.input.focus();
    });
    chip.append(el("img", { src: item.url, alt: this.t("image") }), remove);
    this.chips.append(chip);
    this.chips.hidden = false;
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    const picked = this.picked;
    if (!text && !picked.length) return;
    if (text.length > MAX_CHARS) return this.say(this.t("tooLong"));
    const attachments = picked.length ? await encode(picked) : [];
    if (attachments === null) return this.say(this.t("imageTooBig"));
    this.input.value = "";
    this.picked = [];
    this.chips.replaceChildren();
    this.chips.hidden = true;
    const images = picked.map((p) => p.url);
    const pending = this.bubbleFor({ id: "", role: "user", content: text, created_at: new Date().toISOString(), images });
    pending.classList.add("pending");
    this.log.append(pending);
    this.scrollDown();
    // One id per message, so a POST retried after a network error is stored once (the API dedupes on it).
    const clientId = [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const send = (token: string) => this.api.send(token, { text, client_id: clientId, ...(attachments.length ? { attachments } : {}) });
    try {
      const { id } = await this.authed(send).catch((err) => {
        if (err instanceof ApiError) throw err;
        return new Promise<{ id: string }>((ok, fail) => setTimeout(() => this.authed(send).then(ok, fail), 1000));
      });
      const mine: ChatMessage = { id, role: "user", content: text, created_at: new Date().toISOString(), images };
      if (id && !this.messages.has(id)) {
        pending.remove();
        this.add(mine, true);
      } else if (id) {
        // The stream was faster than this answer: keep its place, show the visitor's own images in it.
        pending.remove();
        const shown = [...this.log.querySelectorAll<HTMLElement>(".msg[data-id]")].find((n) => n.dataset.id === id);
        if (shown && images.length) shown.replaceChildren(...this.bubbleFor(mine).childNodes);
      } else pending.classList.remove("pending"); // a retry of a message the API already had
      this.say(null);
    } catch (err) {
      pending.remove();
      this.input.value = text;
      for (const p of picked) this.pick(p.file);
      if (err instanceof ApiError && err.status === 413 && !attachments.length) this.say(this.t("tooLong"));
      else this.say(err instanceof ApiError && err.status < 500 && err.status !== 429 ? err.message : this.t("failed"));
    }
  }

  // ----------------------------------------------------------------------------------------------- stream

  /** Open the stream. The browser resumes a dropped one by itself (Last-Event-ID); a closed one is reopened here. */
  private connect(): void {
    clearTimeout(this.retryTimer);
    if (!navigator.onLine) return this.goOffline();
    void this.token()
      .then((token) => {
        const es = new EventSource(this.api.streamUrl(token));
        this.es = es;
        es.addEventListener("open", () => {
          this.attempt = 0;
          if (this.status.dataset.connection === "true") this.say(null);
          void this.catchUp();
        });
        es.addEventListener("message", (e) => this.onMessage(e as MessageEvent<string>));
        es.addEventListener("typing", (e) => this.onTyping(e as MessageEvent<string>));
        es.addEventListener("error", () => {
          if (this.es !== es) return;
          if (es.readyState === EventSource.CLOSED) this.retry();
          else this.say(this.t("reconnecting"), true);
        });
      })
      .catch(() => this.retry());
  }

  private onMessage(e: MessageEvent<string>): void {
    try {
      this.add(JSON.parse(e.data) as ChatMessage, true);
    } catch {
      /* not a message */
    }
  }

  private onTyping(e: MessageEvent<string>): void {
    let on = true;
    try {
      on = (JSON.parse(e.data || "{}") as { typing?: boolean }).typing !== false;
    } catch {
      /* a bare typing event */
    }
    this.typing.hidden = !on;
    clearTimeout(this.typingTimer);
    if (on) this.typingTimer = setTimeout(() => (this.typing.hidden = true), TYPING_MS);
  }

  /** What the stream may have missed while closed: everything after the newest message we have. */
  private async catchUp(): Promise<void> {
    if (!this.historyLoaded && !this.lastId) return;
    try {
      const items = await this.authed((token) => this.api.history(token, this.lastId));
      for (const m of items) this.add(m, true);
    } catch {
      /* the next reconnect tries again */
    }
  }

  private retry(): void {
    this.es?.close();
    this.es = null;
    this.say(this.t("reconnecting"), true);
    clearTimeout(this.retryTimer);
    // A stream closed twice in a row may be an expired or revoked token (a 401): the next try takes a new session.
    if (this.attempt > 0 && this.stored) this.stored.expires_at = 0;
    this.retryTimer = setTimeout(() => this.connect(), backoff(this.attempt++));
  }

  private reconnect(now: boolean): void {
    this.es?.close();
    this.es = null;
    this.attempt = 0;
    if (now) this.connect();
    else this.retryTimer = setTimeout(() => this.connect(), 0);
  }

  private goOffline(): void {
    this.es?.close();
    this.es = null;
    clearTimeout(this.retryTimer);
    this.say(this.t("offline"), true);
  }
}
