// Entry of widget.js: <script src="https://HOST/widget.js" data-key="PUBLIC_KEY" async></script> (docs/web-chat.md).
import { Widget } from "./widget";

declare global {
  interface Window {
    __atendeWidget?: Widget;
  }
}

function boot(): void {
  if (window.__atendeWidget) return;
  const script =
    (document.currentScript as HTMLScriptElement | null) ??
    document.querySelector<HTMLScriptElement>('script[src*="/widget.js"][data-key]');
  const key = script?.dataset.key;
  if (!script || !key) return console.warn("atende widget: the script tag needs data-key");
  const d = script.dataset;
  const widget = new Widget({ base: new URL(script.src, location.href).origin, key, locale: d.locale, name: d.name, email: d.email });
  window.__atendeWidget = widget;
  const go = () => void widget.start().then((shown) => shown && d.open === "true" && widget.open());
  if (document.body) go();
  else document.addEventListener("DOMContentLoaded", go, { once: true });
}

boot();
