import { useState } from "react";
import { api, unwrap } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { useSession } from "../auth/session";
import { ActionButton, CopyButton, ErrorBox, Field, Show } from "../components/ui";
import { useI18n } from "../i18n";
import { ChannelEditor } from "./ChannelEdit";
import { CHANNEL_KINDS, type ChannelKind as Kind, credentialFields, isMeta, isSecretField, kindLabel } from "./channelTypes";
import { WebChannelPanel } from "./WebChannel";

export function ChannelsPage() {
  const { t, fmtDate } = useI18n();
  const { isAdmin } = useSession();
  const channels = useApiQuery("/api/v1/channels", { params: { query: { limit: 200 } } });
  const assistants = useApiQuery("/api/v1/assistants", { params: { query: { limit: 200 } } });
  const invalidate = useInvalidate();
  const [kind, setKind] = useState<Kind>("telegram");
  const [name, setName] = useState("");
  const [assistantId, setAssistantId] = useState("");
  const [creds, setCreds] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const fields = credentialFields(kind, t);
  return (
    <section>
      <div className="page-head">
        <h2>{t("Channels")}</h2>
      </div>
      {isAdmin && (
        <form
          className="inline-form card"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              unwrap(
                await api.POST("/api/v1/channels", {
                  body: { type: kind, name, assistant_id: assistantId || null, credentials: creds },
                }),
              );
              setName("");
              setCreds({});
              await invalidate("/api/v1/channels");
            } catch (err) {
              setError(err);
            }
          }}
        >
          <h3>{t("New channel")}</h3>
          <Field label={t("Type")}>
            <select value={kind} onChange={(e) => { setKind(e.target.value as Kind); setCreds({}); }}>
              {CHANNEL_KINDS.map((k) => (
                <option key={k.value} value={k.value}>{k.label}</option>
              ))}
            </select>
          </Field>
          <Field label={t("Name")}>
            <input required value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label={t("Assistant")}>
            <select value={assistantId} onChange={(e) => setAssistantId(e.target.value)}>
              <option value="">{t("Tenant default")}</option>
              {assistants.data?.items.map((a) => (
                <option key={a.id} value={a.id}>{a.name}</option>
              ))}
            </select>
          </Field>
          {fields.map(([key, label]) => (
            <Field key={key} label={label}>
              <input
                required
                type={isSecretField(key) ? "password" : "text"}
                autoComplete="off"
                value={creds[key] ?? ""}
                onChange={(e) => setCreds({ ...creds, [key]: e.target.value })}
              />
            </Field>
          ))}
          <button type="submit" className="primary">{t("Create")}</button>
          <ErrorBox error={error} />
        </form>
      )}
      <Show loaded={channels} isEmpty={(p) => p.items.length === 0} empty={t("No channels yet.")}>
        {(page) => (
          <ul className="cards">
            {page.items.map((c) => (
              <li key={c.id} className={c.type === "web" ? "card wide" : "card"} data-channel={c.id} data-type={c.type}>
                <div className="row">
                  <strong>{c.name}</strong>
                  <span className="badge">{kindLabel(c.type)}</span>
                </div>
                {c.type === "web" ? (
                  <WebChannelPanel channel={c} canEdit={isAdmin} onSaved={() => invalidate("/api/v1/channels")} />
                ) : (
                  <div className="secret-row">
                    <span className="muted">{t("Webhook URL")}:</span> <code className="wrap">{c.webhook_url}</code>
                    <CopyButton text={c.webhook_url} />
                  </div>
                )}
                {c.verify_token && (
                  <div className="secret-row">
                    <span className="muted">{t("Verify token")}:</span> <code className="wrap">{c.verify_token}</code>
                    <CopyButton text={c.verify_token} />
                  </div>
                )}
                {isMeta(c.type) && (
                  <p className="muted">{t("Paste the webhook URL and the verify token into the webhook settings of your Meta app.")}</p>
                )}
                {c.type === "telegram" && (
                  <p className="muted">
                    {c.webhook_registered_at
                      ? t("Webhook registered {when}", { when: fmtDate(c.webhook_registered_at) })
                      : t("Webhook not registered with Telegram yet.")}
                  </p>
                )}
                {isAdmin && (
                  <div className="row">
                    {c.type === "telegram" && (
                      <ActionButton
                        onClick={async () => {
                          unwrap(
                            await api.POST("/api/v1/channels/{channel_id}/telegram/set-webhook", {
                              params: { path: { channel_id: c.id } },
                            }),
                          );
                          await invalidate("/api/v1/channels");
                        }}
                      >
                        {t("Set Telegram webhook")}
                      </ActionButton>
                    )}
                    <ChannelEditor channel={c} onSaved={() => invalidate("/api/v1/channels")} />
                    <ActionButton
                      className="danger small"
                      confirm={t("Delete this channel?")}
                      onClick={async () => {
                        unwrap(await api.DELETE("/api/v1/channels/{channel_id}", { params: { path: { channel_id: c.id } } }));
                        await invalidate("/api/v1/channels");
                      }}
                    >
                      {t("Delete")}
                    </ActionButton>
                  </div>
                )}
              </li>
            ))}
          </ul>
        )}
      </Show>
    </section>
  );
}
