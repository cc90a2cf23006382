import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { detectLang, translate } from ".";
import { pt } from "./pt";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".test.ts") && !name.endsWith(".test.tsx") ? [path] : [];
  });
}

describe("i18n", () => {
  it("has a pt-BR translation for every literal text the screens show", () => {
    const used = new Set<string>();
    for (const file of sources(join(__dirname, ".."))) {
      for (const m of readFileSync(file, "utf8").matchAll(/\bt\("((?:[^"\\]|\\.)*)"/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(100);
    const missing = [...used].filter((s) => !(s in pt));
    expect(missing).toEqual([]);
  });

  it("keeps placeholders in translations and fills them", () => {
    for (const [en, tr] of Object.entries(pt)) {
      const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(vars(tr), en).toEqual(vars(en));
    }
    expect(translate("pt-BR", "flush in {s}s", { s: 7 })).toBe("envio em 7s");
    expect(translate("en", "flush in {s}s", { s: 7 })).toBe("flush in 7s");
  });

  it("defaults from the browser and remembers the choice", () => {
    Object.defineProperty(navigator, "languages", { value: ["pt-BR", "en"], configurable: true });
    expect(detectLang()).toBe("pt-BR");
    Object.defineProperty(navigator, "languages", { value: ["de-DE", "en-US"], configurable: true });
    expect(detectLang()).toBe("en");
    localStorage.setItem("atende.lang", "pt-BR");
    expect(detectLang()).toBe("pt-BR");
  });
});
