import { useState } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { ErrorBox, Field } from "../components/ui";
import { useI18n } from "../i18n";
import { credentialFields, isSecretField } from "./channelTypes";

type Channel = components["schemas"]["ChannelRead"];
type Template = { name?: string; language?: string };

/** Change a channel: its name, any credential (blank keeps the stored one), WhatsApp Cloud's 24-hour template. */
export function ChannelEditor({ channel, onSaved }: { channel: Channel; onSaved: () => Promise<unknown> }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(channel.name);
  const [creds, setCreds] = useState<Record<string, string>>({});
  const current = (channel.settings?.template ?? {}) as Template;
  const [template, setTemplate] = useState({ name: current.name ?? "", language: current.language ?? "en_US" });
  const [error, setError] = useState<unknown>(null);
  if (!open) {
    return (
      <button type="button" className="small" onClick={() => setOpen(true)}>
        {t("Edit")}
      </button>
    );
  }
  return (
    <form
      className="inline-form"
      aria-label={t("Edit channel")}
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const credentials = Object.fromEntries(Object.entries(creds).filter(([, v]) => v));
        const body: components["schemas"]["ChannelUpdate"] = { name };
        if (Object.keys(credentials).length) body.credentials = credentials;
        if (channel.type === "whatsapp_cloud") {
          body.settings = { template: template.name ? { name: template.name, language: template.language } : null };
        }
        try {
          unwrap(await api.PATCH("/api/v1/channels/{channel_id}", { params: { path: { channel_id: channel.id } }, body }));
          setCreds({});
          setOpen(false);
          await onSaved();
        } catch (err) {
          setError(err);
        }
      }}
    >
      <Field label={t("Name")}>
        <input required value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      {credentialFields(channel.type, t).map(([key, label]) => {
        const last4 = channel.credentials[key]?.last4;
        return (
          <Field key={key} label={label} hint={t("Leave blank to keep the current value.")}>
            <input
              type={isSecretField(key) ? "password" : "text"}
              autoComplete="off"
              placeholder={last4 ? `…${last4}` : ""}
              value={creds[key] ?? ""}
              onChange={(e) => setCreds({ ...creds, [key]: e.target.value })}
            />
          </Field>
        );
      })}
      {channel.type === "whatsapp_cloud" && (
        <>
          <Field label={t("Template name")} hint={t("Sent instead of a reply outside WhatsApp's 24-hour window.")}>
            <input value={template.name} onChange={(e) => setTemplate({ ...template, name: e.target.value })} />
          </Field>
          <Field label={t("Template language")}>
            <input value={template.language} onChange={(e) => setTemplate({ ...template, language: e.target.value })} />
          </Field>
        </>
      )}
      <button type="submit" className="primary">{t("Save")}</button>
      <button type="button" onClick={() => setOpen(false)}>{t("Cancel")}</button>
      <ErrorBox error={error} />
    </form>
  );
}
