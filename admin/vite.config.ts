/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Served by the gateway under /admin (see docs/admin.md); `npm run dev` proxies the API to a local gateway.
const gateway = process.env.ATENDE_GATEWAY ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/admin/",
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: { "/api": gateway, "/v1": gateway, "/webhooks": gateway, "/.well-known": gateway },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}", "widget/**/*.test.ts"],
    setupFiles: ["src/test/setup.ts"],
    testTimeout: 15_000, // a busy machine (the suite shares two cores) runs a click-through test past 5 s
  },
});
