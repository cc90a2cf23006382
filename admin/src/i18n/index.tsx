// English is the source text; pt-BR translates it. The language defaults from the browser and is remembered.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { pt } from "./pt";

export type Lang = "en" | "pt-BR";
const KEY = "atende.lang";

export function detectLang(): Lang {
  const saved = localStorage.getItem(KEY);
  if (saved === "en" || saved === "pt-BR") return saved;
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  return langs.some((l) => l?.toLowerCase().startsWith("pt")) ? "pt-BR" : "en";
}

export type T = (text: string, vars?: Record<string, string | number>) => string;

export function translate(lang: Lang, text: string, vars?: Record<string, string | number>): string {
  let out = lang === "pt-BR" ? (pt[text] ?? text) : text;
  if (vars) for (const [k, v] of Object.entries(vars)) out = out.replaceAll(`{${k}}`, String(v));
  return out;
}

interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: T;
  fmtDate: (iso: string | null | undefined) => string;
  fmtNumber: (n: number | null | undefined, digits?: number) => string;
}

const Ctx = createContext<I18n | null>(null);

export function I18nProvider({ children, initial }: { children: ReactNode; initial?: Lang }) {
  const [lang, setLangState] = useState<Lang>(initial ?? detectLang());
  const setLang = useCallback((l: Lang) => {
    localStorage.setItem(KEY, l);
    document.documentElement.lang = l;
    setLangState(l);
  }, []);
  const value = useMemo<I18n>(() => {
    const dateFmt = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium" });
    return {
      lang,
      setLang,
      t: (text, vars) => translate(lang, text, vars),
      fmtDate: (iso) => (iso ? dateFmt.format(new Date(iso)) : "—"),
      fmtNumber: (n, digits = 0) =>
        n === null || n === undefined
          ? "—"
          : new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(n),
    };
  }, [lang, setLang]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("useI18n outside I18nProvider");
  return ctx;
}
