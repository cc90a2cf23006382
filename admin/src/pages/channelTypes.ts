// The channel types the console creates and edits, and the credentials each needs (API.md, POST /api/v1/channels).
import type { components } from "../api/schema";

export type ChannelKind = components["schemas"]["ChannelCreate"]["type"];
type T = (text: string) => string;

export const CHANNEL_KINDS: { value: ChannelKind; label: string }[] = [
  { value: "telegram", label: "Telegram" },
  { value: "whatsapp_twilio", label: "WhatsApp (Twilio)" },
  { value: "whatsapp_cloud", label: "WhatsApp (Cloud API)" },
  { value: "instagram", label: "Instagram" },
  { value: "messenger", label: "Messenger" },
  { value: "web", label: "Web chat (widget)" },
];

/** Meta's types: their webhook is set in the Meta app's dashboard with our URL and verify token. */
export const isMeta = (kind: string) => kind === "whatsapp_cloud" || kind === "instagram" || kind === "messenger";

export function kindLabel(kind: string): string {
  return CHANNEL_KINDS.find((k) => k.value === kind)?.label ?? kind;
}

/** [credential field, label] for a type, in the order the form shows them. */
export function credentialFields(kind: string, t: T): [string, string][] {
  switch (kind) {
    case "web":
      return []; // the widget needs none: its public key is generated (pages/WebChannel.tsx)
    case "telegram":
      return [["bot_token", t("Bot token")]];
    case "whatsapp_twilio":
      return [
        ["account_sid", t("Account SID")],
        ["auth_token", t("Auth token")],
        ["from_number", t("From number (whatsapp:+55…)")],
      ];
    case "whatsapp_cloud":
      return [
        ["access_token", t("Access token")],
        ["app_secret", t("App secret")],
        ["phone_number_id", t("Phone number ID")],
      ];
    default:
      return [
        ["access_token", t("Access token")],
        ["app_secret", t("App secret")],
        ["page_id", t("Page ID")],
      ];
  }
}

export const isSecretField = (key: string) => key.includes("token") || key.includes("secret");
