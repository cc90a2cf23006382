// The sha256 of the widget's sources, written into the built widget.js's first line: a test compares it with the
// sources of the checkout, so the committed build the gateway serves can never lag behind its source.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const WIDGET_DIR = import.meta.dirname;
export const BUILT = join(import.meta.dirname, "..", "..", "gateway", "static", "widget.js");

export function sourceHash(dir: string = WIDGET_DIR): string {
  const hash = createHash("sha256");
  const files = readdirSync(dir)
    .filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts") && n !== "source-hash.ts")
    .sort();
  for (const name of files) hash.update(`${name}\n`).update(readFileSync(join(dir, name))).update("\n");
  return hash.digest("hex").slice(0, 16);
}

export function banner(): string {
  return `/*! Atende chat widget (admin/widget, npm run build:widget) source ${sourceHash()} */`;
}
