import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { backoff } from "./backoff";
import { encode, MAX_BASE64_TOTAL } from "./images";
import { pickLocale, strings, LOCALES } from "./i18n";
import { BUILT, sourceHash } from "./source-hash";
import { contrastOn, renderText, safeColor, safeUrl } from "./text";

describe("message text", () => {
  it("renders markup as inert text", () => {
    const box = document.createElement("div");
    (window as unknown as { pwned?: number }).pwned = undefined;
    renderText(box, '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>');
    document.body.append(box);
    expect(box.querySelector("img, script")).toBeNull();
    expect(box.textContent).toBe('<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>');
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it("links http(s) URLs safely and nothing else", () => {
    const box = document.createElement("div");
    renderText(box, "See https://example.com/a?b=1. Or javascript:alert(1) or http://x.test/\"onmouseover=alert(1)");
    const links = [...box.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.com/a?b=1", "http://x.test/"]);
    for (const a of links) {
      expect(a.target).toBe("_blank");
      expect(a.rel.split(" ")).toEqual(expect.arrayContaining(["noopener", "noreferrer"]));
      expect(a.attributes.length).toBe(3);
    }
    expect(box.textContent).toContain("javascript:alert(1)");
    expect(safeUrl("javascript:alert(1)")).toBeNull();
    expect(safeUrl("data:text/html,x")).toBeNull();
  });

  it("takes only hex colours and picks a readable text colour", () => {
    expect(safeColor("#0a7")).toBe("#0a7");
    expect(safeColor("red;background:url(//evil)")).toBeNull();
    expect(safeColor("#12345g")).toBeNull();
    expect(contrastOn("#ffffff")).toBe("#111");
    expect(contrastOn("#1e3a8a")).toBe("#fff");
  });
});

describe("locale", () => {
  it("follows the embed, then the page, then the channel, and falls back to English", () => {
    expect(pickLocale(undefined, "pt-BR", "en")).toBe("pt-BR");
    expect(pickLocale("en", "pt-BR", "pt-BR")).toBe("en");
    expect(pickLocale(undefined, "", "pt-BR")).toBe("pt-BR");
    expect(pickLocale(undefined, "pt-PT", "en")).toBe("pt-BR");
    expect(pickLocale(undefined, "de-DE", "pt-BR")).toBe("pt-BR");
    expect(pickLocale(undefined, "de-DE", null)).toBe("en");
    expect(strings("pt-BR")("unread", { n: 3 })).toBe("3 não lidas");
    expect(Object.keys(LOCALES["pt-BR"]).sort()).toEqual(Object.keys(LOCALES.en).sort());
  });
});

describe("reconnect backoff", () => {
  it("grows exponentially with jitter up to a cap", () => {
    expect(backoff(0, () => 0)).toBe(500);
    expect(backoff(0, () => 1)).toBe(1000);
    expect(backoff(3, () => 1)).toBe(8000);
    expect(backoff(10, () => 1)).toBe(30_000);
    expect(backoff(1000, () => 0.5)).toBe(22_500);
  });
});

describe("images", () => {
  it("go as base64 with their type, and a message too big for the API's body cap is refused here", async () => {
    const png = new File([Uint8Array.from(atob("iVBORw0KGgo="), (c) => c.charCodeAt(0))], "p.png", { type: "image/png" });
    const [one] = (await encode([{ file: png, url: "" }]))!;
    expect(one).toEqual({ type: "image", data: "iVBORw0KGgo=", mime_type: "image/png" });
    const big = new File([new Uint8Array(MAX_BASE64_TOTAL)], "big.gif", { type: "image/gif" });
    expect(await encode([{ file: big, url: "" }])).toBeNull();
  });
});

describe("the built widget.js", () => {
  it("is built from these sources (run `npm run build:widget` in admin/ and commit gateway/static/widget.js)", () => {
    const first = readFileSync(BUILT, "utf8").split("\n", 1)[0];
    expect(first).toContain(`source ${sourceHash()}`);
  });
});
