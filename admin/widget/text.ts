// Message text is rendered as text nodes: never HTML. Links become <a> only for http(s) URLs.

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

/** An http(s) URL in its normalised form, or null for anything else (javascript:, data:, garbage). */
export function safeUrl(raw: string): string | null {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Append `text` to `parent` as text nodes, with http(s) URLs as safe links (new tab, no opener, no referrer). */
export function renderText(parent: Node, text: string): void {
  const doc = parent.ownerDocument ?? document;
  let at = 0;
  for (const match of text.matchAll(URL_RE)) {
    const start = match.index ?? 0;
    const trail = TRAILING.exec(match[0])?.[0] ?? "";
    const raw = match[0].slice(0, match[0].length - trail.length);
    const href = safeUrl(raw);
    if (!href) continue;
    if (start > at) parent.appendChild(doc.createTextNode(text.slice(at, start)));
    const a = doc.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.textContent = raw;
    parent.appendChild(a);
    at = start + raw.length;
  }
  if (at < text.length) parent.appendChild(doc.createTextNode(text.slice(at)));
}

/** A CSS colour the channel set, only when it is a plain hex colour (nothing else reaches the stylesheet). */
export function safeColor(value: unknown): string | null {
  return typeof value === "string" && /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(value) ? value : null;
}

/** Black or white, whichever reads better on `hex`. */
export function contrastOn(hex: string): string {
  const h = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c) : hex;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  return luminance > 0.4 ? "#111" : "#fff";
}
