// The live console: one streamed GET /api/v1/events per tab (fetch, so the Bearer header goes with it: EventSource
// cannot send one, and a token in the URL would land in access logs). Each event marks the queries it concerns
// stale (api/queries.ts keys); the mounted ones refetch. A dropped connection is retried with backoff and resumes
// with Last-Event-ID; after any gap every query is refetched, so nothing missed stays on screen. docs/console.md.
import type { QueryClient, QueryKey } from "@tanstack/react-query";
import { authFetch, readSse, type SseEvent } from "./client";
import { apiKey } from "./queries";

export type LiveState = "connecting" | "open" | "retrying" | "closed";

type Payload = Record<string, string | number | boolean | null | undefined>;

const thread = (p: Payload) => (p.thread_id ? [apiKey("/api/v1/threads/{thread_id}", { path: { thread_id: p.thread_id } })] : []);
const threadMessages = (p: Payload) =>
  p.thread_id ? [apiKey("/api/v1/threads/{thread_id}/messages", { path: { thread_id: p.thread_id } })] : [];

/** What each live event makes stale: a screen that shows other data adds its keys here, one line per event. */
export const LIVE_INVALIDATES: Record<string, (p: Payload) => QueryKey[]> = {
  "message.created": (p) => [
    apiKey("/api/v1/threads"),
    ...thread(p),
    ...threadMessages(p),
    apiKey("/api/v1/metrics"),
    apiKey("/api/v1/contacts"),
    ...(p.contact_id ? [apiKey("/api/v1/contacts/{contact_id}/messages", { path: { contact_id: p.contact_id } })] : []),
  ],
  "thread.updated": (p) => [apiKey("/api/v1/threads"), ...thread(p), apiKey("/api/v1/metrics")],
  "buffer.updated": () => [apiKey("/api/v1/buffers")],
};

export function keysFor(event: SseEvent): QueryKey[] {
  const rule = LIVE_INVALIDATES[event.event];
  if (!rule) return [];
  let payload: Payload = {};
  try {
    payload = JSON.parse(event.data) as Payload;
  } catch {
    /* a rule that needs no payload still applies */
  }
  return rule(payload);
}

export interface LiveOptions {
  onEvent: (event: SseEvent) => void;
  /** Called when a connection opens after a gap (a reconnect): whatever happened meanwhile must be refetched. */
  onResync: () => void;
  onState?: (state: LiveState) => void;
  signal: AbortSignal;
  path?: string;
  /** No bytes for this long (the server pings every CHAT_SSE_PING_SECONDS = 15 s) means a dead connection. */
  idleMs?: number;
  backoffMs?: (attempt: number) => number;
}

/** 1 s, 2 s, 4 s … 30 s, with jitter so a restarted server is not hit by every tab at once. */
export function backoff(attempt: number): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
  return base / 2 + Math.random() * (base / 2);
}

/** Wait `ms`, or less when the browser comes back online (no point waiting out the backoff then). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      globalThis.removeEventListener?.("online", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    globalThis.addEventListener?.("online", done, { once: true });
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Keep one live connection until `signal` aborts or the session is over (401 after the silent refresh). */
export async function runLive({
  onEvent,
  onResync,
  onState,
  signal,
  path = "/api/v1/events",
  idleMs = 45_000,
  backoffMs = backoff,
}: LiveOptions): Promise<void> {
  let lastId: string | undefined;
  let attempt = 0;
  let opened = false;
  while (!signal.aborted) {
    onState?.(opened || attempt ? "retrying" : "connecting");
    const connection = new AbortController();
    const stop = () => connection.abort();
    signal.addEventListener("abort", stop, { once: true });
    globalThis.addEventListener?.("offline", stop); // the network is gone: a stream may hang instead of failing
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(stop, idleMs);
    };
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      alive();
      const resp = await authFetch(path, { headers, signal: connection.signal });
      if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
        onState?.("closed");
        return; // the session is over (401) or this token has no live feed (no tenant): a new session reconnects
      }
      if (resp.ok && resp.body) {
        if (opened || attempt) onResync();
        opened = true;
        attempt = 0;
        onState?.("open");
        for await (const event of readSse(resp, alive)) {
          if (event.id) lastId = event.id;
          onEvent(event);
        }
      } else {
        await resp.body?.cancel().catch(() => undefined);
      }
    } catch {
      /* network error, watchdog or abort: retried below unless aborted */
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener("abort", stop);
      globalThis.removeEventListener?.("offline", stop);
    }
    if (signal.aborted) break;
    onState?.("retrying");
    await sleep(backoffMs(attempt++), signal);
  }
  onState?.("closed");
}

/** Feed a query cache from the live connection: events are batched per `batchMs` into one invalidation pass. */
export function startLive(
  client: QueryClient,
  onState?: (state: LiveState) => void,
  { batchMs = 150, ...rest }: Partial<Omit<LiveOptions, "onEvent" | "onResync" | "onState">> & { batchMs?: number } = {},
): () => void {
  const controller = new AbortController();
  const pending = new Map<string, QueryKey>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    const keys = [...pending.values()];
    pending.clear();
    for (const queryKey of keys) void client.invalidateQueries({ queryKey });
  };
  void runLive({
    ...rest,
    signal: controller.signal,
    onState,
    onEvent: (event) => {
      for (const key of keysFor(event)) pending.set(JSON.stringify(key), key);
      if (pending.size && timer === undefined) timer = setTimeout(flush, batchMs);
    },
    onResync: () => void client.invalidateQueries(),
  });
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}
