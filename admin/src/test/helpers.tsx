import type { ReactNode } from "react";
import { QueryClient } from "@tanstack/react-query";
import { QueryProvider } from "../api/provider";
import { MemoryRouter } from "react-router-dom";
import { vi } from "vitest";
import { SessionProvider } from "../auth/session";
import { I18nProvider, type Lang } from "../i18n";

/** A query cache for one test: no retries (an error shows at once), nothing shared with the next test. */
export function testQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: 0 }, mutations: { retry: false } } });
}

export function wrap(
  node: ReactNode,
  { lang = "en", path = "/", client, live = false }: { lang?: Lang; path?: string; client?: QueryClient; live?: boolean } = {},
) {
  return (
    <I18nProvider initial={lang}>
      <SessionProvider>
        <QueryProvider client={client ?? testQueryClient()} live={live}>
          <MemoryRouter initialEntries={[path]}>{node}</MemoryRouter>
        </QueryProvider>
      </SessionProvider>
    </I18nProvider>
  );
}

export function json(status: number, body: unknown, type = "application/json"): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": type } });
}

export interface Call {
  method: string;
  url: string;
  body: unknown;
  auth: string | null;
}

/** A stand-in for the network (the browser's fetch): answers by "METHOD /path", records every call. */
export function stubFetch(routes: Record<string, (call: Call) => Response | Promise<Response>>) {
  const calls: Call[] = [];
  const fetchStub = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
    const text = req.method === "GET" || req.method === "HEAD" ? "" : await req.clone().text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    const url = new URL(req.url);
    const call = { method: req.method, url: url.pathname + url.search, body, auth: req.headers.get("Authorization") };
    calls.push(call);
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) return json(404, { type: "about:blank", title: "Not Found", status: 404, detail: `no stub for ${req.method} ${url.pathname}` });
    return handler(call);
  });
  vi.stubGlobal("fetch", fetchStub);
  return calls;
}

/** A text/event-stream answer that stays open: `send` writes an event, `close` ends it (a dropped connection). */
export function sseStream(signal?: AbortSignal | null) {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  const enc = new TextEncoder();
  signal?.addEventListener("abort", () => ctrl.error(new DOMException("aborted", "AbortError")), { once: true });
  return {
    response: new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    send: (id: string, event: string, data: unknown) => ctrl.enqueue(enc.encode(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`)),
    ping: () => ctrl.enqueue(enc.encode(": ping\n\n")),
    close: () => ctrl.close(),
  };
}
