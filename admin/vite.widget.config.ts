// widget.js, the embeddable chat widget (admin/widget): one self-contained script, built into gateway/static/ and
// committed there, so the gateway (and every image) serves it without Node.js. `npm run build:widget`.
import { defineConfig } from "vite";
import { BUILT, banner } from "./widget/source-hash";
import { dirname, resolve } from "node:path";

export default defineConfig({
  publicDir: false,
  build: {
    lib: { entry: resolve(import.meta.dirname, "widget/main.ts"), formats: ["iife"], name: "AtendeWidget", fileName: () => "widget.js" },
    outDir: dirname(BUILT),
    emptyOutDir: false,
    target: "es2022",
    minify: true,
    sourcemap: false,
    copyPublicDir: false,
    rolldownOptions: { output: { postBanner: banner() } },
  },
});
