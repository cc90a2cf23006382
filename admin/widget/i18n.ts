// The widget's own strings, English and Brazilian Portuguese.

export type Locale = "en" | "pt-BR";

const en = {
  open: "Open chat",
  close: "Close chat",
  title: "Chat with us",
  greeting: "Hi! How can we help you?",
  unread: "{n} unread",
  message: "Message",
  placeholder: "Type your message…",
  send: "Send",
  typing: "Typing…",
  you: "You",
  assistant: "Assistant",
  agent: "Agent",
  offline: "Offline: waiting for the connection…",
  reconnecting: "Reconnecting…",
  failed: "Not sent. Check your connection and try again.",
  tooLong: "The message is too long.",
  details: "Your name and email (optional)",
  name: "Name",
  email: "Email",
  save: "Save",
  saved: "Thanks! Saved.",
  attach: "Attach an image",
  image: "Image",
  remove: "Remove image",
  notImage: "Only JPEG, PNG, WebP or GIF images.",
  imageTooBig: "The images are too large to send.",
};
export type Key = keyof typeof en;

const pt: Record<Key, string> = {
  open: "Abrir o chat",
  close: "Fechar o chat",
  title: "Fale conosco",
  greeting: "Olá! Como podemos ajudar?",
  unread: "{n} não lidas",
  message: "Mensagem",
  placeholder: "Digite sua mensagem…",
  send: "Enviar",
  typing: "Digitando…",
  you: "Você",
  assistant: "Assistente",
  agent: "Atendente",
  offline: "Sem conexão: aguardando a rede…",
  reconnecting: "Reconectando…",
  failed: "Não enviada. Verifique sua conexão e tente de novo.",
  tooLong: "A mensagem é longa demais.",
  details: "Seu nome e e-mail (opcional)",
  name: "Nome",
  email: "E-mail",
  save: "Salvar",
  saved: "Obrigado! Salvo.",
  attach: "Anexar uma imagem",
  image: "Imagem",
  remove: "Remover imagem",
  notImage: "Somente imagens JPEG, PNG, WebP ou GIF.",
  imageTooBig: "As imagens são grandes demais para enviar.",
};

const TABLES: Record<Locale, Record<Key, string>> = { en, "pt-BR": pt };

function normalise(tag: string | null | undefined): Locale | null {
  if (!tag) return null;
  const t = tag.trim().toLowerCase();
  if (t.startsWith("pt")) return "pt-BR";
  if (t.startsWith("en")) return "en";
  return null;
}

/** The first English or Portuguese of: the embed's data-locale, the page's `lang`, the channel's locale; else en. */
export function pickLocale(...candidates: (string | null | undefined)[]): Locale {
  for (const c of candidates) {
    const l = normalise(c);
    if (l) return l;
  }
  return "en";
}

export function strings(locale: Locale): (key: Key, vars?: Record<string, string | number>) => string {
  const table = TABLES[locale];
  return (key, vars) => {
    let out = table[key];
    if (vars) for (const [k, v] of Object.entries(vars)) out = out.replaceAll(`{${k}}`, String(v));
    return out;
  };
}

export const LOCALES = TABLES;
