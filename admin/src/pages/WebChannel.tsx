// A web channel's part of the channels page: the embed snippet, the widget's settings (allowed origins, colour,
// greeting, language) and a live preview: the real widget.js, pointed at this channel, in a frame on this page.
import { useMemo, useState } from "react";
import { api, unwrap } from "../api/client";
import { CopyButton, ErrorBox, Field } from "../components/ui";
import { useI18n } from "../i18n";

export interface WebChannel {
  id: string;
  public_key?: string | null;
  settings: Record<string, unknown>;
}

type Locale = "en" | "pt-BR";

export function embedSnippet(origin: string, key: string): string {
  return `<script src="${origin}/widget.js" data-key="${key}" async></script>`;
}

/** One origin per line (or comma), trimmed, empty lines dropped: the API canonicalises and checks each. */
export function parseOrigins(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The preview's page: nothing but the embed snippet, so what it shows is what a customer's site shows. */
function previewDoc(origin: string, key: string, lang: string): string {
  return (
    `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"></head>` +
    `<body style="margin:0;height:100vh;background:#eef1f5">` +
    `<script src="${origin}/widget.js" data-key="${key}" data-open="true" async></script></body></html>`
  );
}

export function WebChannelPanel({ channel, canEdit, onSaved }: { channel: WebChannel; canEdit: boolean; onSaved: () => Promise<void> }) {
  const { t, lang } = useI18n();
  const origin = window.location.origin;
  const s = channel.settings;
  const saved = useMemo(
    () => ({
      origins: ((s.allowed_origins as string[] | undefined) ?? []).join("\n"),
      color: (s.color as string | undefined) ?? "#2563eb",
      greeting: (s.greeting as string | undefined) ?? "",
      locale: ((s.locale as string | undefined) ?? "en") as Locale,
    }),
    [s],
  );
  const [origins, setOrigins] = useState(saved.origins);
  const [color, setColor] = useState(saved.color);
  const [greeting, setGreeting] = useState(saved.greeting);
  const [locale, setLocale] = useState<Locale>(saved.locale);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [previewRun, setPreviewRun] = useState(0);
  const key = channel.public_key ?? "";
  const allowed = (s.allowed_origins as string[] | undefined) ?? [];
  const previewAllowed = allowed.includes(origin);

  async function save(extraOrigin?: string) {
    setError(null);
    setDone(false);
    const list = parseOrigins(origins);
    if (extraOrigin && !list.includes(extraOrigin)) list.push(extraOrigin);
    try {
      const updated = unwrap(
        await api.PATCH("/api/v1/channels/{channel_id}", {
          params: { path: { channel_id: channel.id } },
          body: { settings: { allowed_origins: list, color, greeting: greeting.trim() || null, locale } },
        }),
      );
      setOrigins(((updated.settings.allowed_origins as string[] | undefined) ?? list).join("\n")); // as stored: canonical
      setDone(true);
      freshPreview(key);
      setPreviewRun((n) => n + 1);
      await onSaved();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <div className="web-channel">
      <div className="secret-row">
        <span className="muted">{t("Embed code")}:</span>
        <code className="wrap" data-testid="embed-snippet">{embedSnippet(origin, key)}</code>
        <CopyButton text={embedSnippet(origin, key)} />
      </div>
      <p className="muted">{t("Paste it before </body> on every page of your site that should show the chat.")}</p>
      <div className="web-grid">
        <form
          className="web-settings"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <Field label={t("Allowed origins")} hint={t("One per line, e.g. https://www.example.com. Other sites get no chat.")}>
            <textarea rows={3} value={origins} disabled={!canEdit} onChange={(e) => setOrigins(e.target.value)} />
          </Field>
          <Field label={t("Colour")}>
            <input type="color" value={color} disabled={!canEdit} onChange={(e) => setColor(e.target.value)} />
          </Field>
          <Field label={t("Greeting")} hint={t("Shown at the top of the chat.")}>
            <textarea rows={2} maxLength={500} value={greeting} disabled={!canEdit} onChange={(e) => setGreeting(e.target.value)} />
          </Field>
          <Field label={t("Widget language")} hint={t("The page's own language (its lang attribute) comes first when it is English or Portuguese.")}>
            <select value={locale} disabled={!canEdit} onChange={(e) => setLocale(e.target.value as Locale)}>
              <option value="en">English</option>
              <option value="pt-BR">Português (Brasil)</option>
            </select>
          </Field>
          {canEdit && (
            <button type="submit" className="primary">
              {t("Save widget settings")}
            </button>
          )}
          {done && <span className="muted saved" role="status">{t("Saved")}</span>}
          <ErrorBox error={error} />
        </form>
        <div className="web-preview">
          <h4>{t("Live preview")}</h4>
          {previewAllowed ? (
            <iframe
              key={previewRun}
              title={t("Widget preview")}
              className="widget-preview"
              srcDoc={previewDoc(origin, key, lang)}
            />
          ) : (
            <div className="state empty">
              <p>{t("The preview runs the real widget on this console's address, {origin}, which is not an allowed origin.", { origin })}</p>
              {canEdit && (
                <button type="button" onClick={() => void save(origin)}>
                  {t("Allow {origin} for the preview", { origin })}
                </button>
              )}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}

/** The preview shares this page's storage: drop its cached session (keep the visitor), so new settings show at once. */
function freshPreview(key: string): void {
  const name = `atende.widget.${key}`;
  try {
    const stored = JSON.parse(localStorage.getItem(name) ?? "null") as { visitor_id?: string } | null;
    if (stored?.visitor_id) localStorage.setItem(name, JSON.stringify({ visitor_id: stored.visitor_id }));
  } catch {
    localStorage.removeItem(name);
  }
}
