// The live updater over a stand-in network: events invalidate exactly the queries they concern, and a dropped
// connection comes back with Last-Event-ID and a refetch of everything (nothing missed stays on screen).
import { render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { useLiveState } from "./provider";
import { setTokens } from "./client";
import { keysFor, runLive, type LiveState } from "./live";
import { useApiQuery } from "./queries";
import { json, sseStream, stubFetch, wrap } from "../test/helpers";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const me = { id: "u1", email: "a@b.c", is_superuser: false, is_active: true, created_at: "2026-01-01T00:00:00Z", memberships: [] };

describe("runLive", () => {
  it("resumes after a drop with Last-Event-ID, asks for a resync, and stops on abort", async () => {
    setTokens(tokens);
    const seen: { auth: string | null; lastId: string | null; accept: string | null }[] = [];
    const streams: ReturnType<typeof sseStream>[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_input: string, init: RequestInit) => {
        const headers = new Headers(init.headers);
        seen.push({ auth: headers.get("Authorization"), lastId: headers.get("Last-Event-ID"), accept: headers.get("Accept") });
        if (seen.length === 2) return json(503, { detail: "chat restarting" }); // one failed attempt in between
        const stream = sseStream(init.signal);
        streams.push(stream);
        return stream.response;
      }),
    );
    const events: string[] = [];
    const states: LiveState[] = [];
    const onResync = vi.fn();
    const controller = new AbortController();
    const done = runLive({ signal: controller.signal, onEvent: (e) => events.push(`${e.id} ${e.event}`), onResync, onState: (s) => states.push(s), backoffMs: () => 0 });
    await waitFor(() => expect(streams).toHaveLength(1));
    streams[0].send("5-0", "message.created", { message_id: "m1", thread_id: "th1" });
    streams[0].ping();
    await waitFor(() => expect(events).toEqual(["5-0 message.created"]));
    expect(onResync).not.toHaveBeenCalled(); // the first connection has nothing to catch up on
    streams[0].close(); // the server went away
    await waitFor(() => expect(streams).toHaveLength(2));
    expect(seen.map((s) => s.lastId)).toEqual([null, "5-0", "5-0"]);
    expect(seen.every((s) => s.auth === "Bearer a" && s.accept === "text/event-stream")).toBe(true); // the header, never ?token=
    await waitFor(() => expect(onResync).toHaveBeenCalledTimes(1));
    streams[1].send("6-0", "buffer.updated", { key: "k", pending: 0 });
    await waitFor(() => expect(events).toEqual(["5-0 message.created", "6-0 buffer.updated"]));
    controller.abort();
    await done;
    expect(states[0]).toBe("connecting");
    expect(states).toContain("retrying");
    expect(states.filter((s) => s === "open")).toHaveLength(2);
    expect(states.at(-1)).toBe("closed");
  });

  it("drops the stream when the browser goes offline and reconnects as soon as it is back", async () => {
    setTokens(tokens);
    const streams: ReturnType<typeof sseStream>[] = [];
    const lastIds: (string | null)[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_input: string, init: RequestInit) => {
        lastIds.push(new Headers(init.headers).get("Last-Event-ID"));
        const stream = sseStream(init.signal);
        streams.push(stream);
        return stream.response;
      }),
    );
    const states: LiveState[] = [];
    const onResync = vi.fn();
    const controller = new AbortController();
    const done = runLive({ signal: controller.signal, onEvent: () => {}, onResync, onState: (s) => states.push(s), backoffMs: () => 3_600_000 });
    await waitFor(() => expect(streams).toHaveLength(1));
    streams[0].send("9-0", "thread.updated", { thread_id: "th1" });
    await waitFor(() => expect(states.at(-1)).toBe("open"));
    window.dispatchEvent(new Event("offline")); // a stream can hang silently when the network goes away
    await waitFor(() => expect(states.at(-1)).toBe("retrying"));
    window.dispatchEvent(new Event("online")); // an hour of backoff is cut short
    await waitFor(() => expect(streams).toHaveLength(2));
    expect(lastIds).toEqual([null, "9-0"]);
    await waitFor(() => expect(onResync).toHaveBeenCalledTimes(1));
    controller.abort();
    await done;
  });

  it("gives up on a 4xx (the session is over) instead of hammering the server", async () => {
    setTokens(null);
    const fetchStub = vi.fn(async () => json(403, { detail: "no tenant" }));
    vi.stubGlobal("fetch", fetchStub);
    const states: LiveState[] = [];
    await runLive({ signal: new AbortController().signal, onEvent: () => {}, onResync: () => {}, onState: (s) => states.push(s), backoffMs: () => 0 });
    expect(fetchStub).toHaveBeenCalledTimes(1);
    expect(states.at(-1)).toBe("closed");
  });

  it("maps events to the queries they make stale", () => {
    const keys = keysFor({ event: "message.created", data: JSON.stringify({ message_id: "m", thread_id: "th1", contact_id: "c1" }) });
    expect(keys).toContainEqual(["/api/v1/threads"]);
    expect(keys).toContainEqual(["/api/v1/threads/{thread_id}/messages", { path: { thread_id: "th1" } }]);
    expect(keys).toContainEqual(["/api/v1/metrics"]);
    expect(keysFor({ event: "buffer.updated", data: "{}" })).toEqual([["/api/v1/buffers"]]);
    expect(keysFor({ event: "something.else", data: "{}" })).toEqual([]);
  });
});

function Screen() {
  const threads = useApiQuery("/api/v1/threads", { params: { query: { limit: 100 } } });
  const buffers = useApiQuery("/api/v1/buffers");
  return (
    <>
      <span data-testid="live">{useLiveState()}</span>
      <ul>{threads.data?.items.map((t) => <li key={t.id}>{t.title}</li>)}</ul>
      <span data-testid="buffers">{buffers.data?.items.length}</span>
    </>
  );
}

describe("the live console", () => {
  it("refetches the inbox when a message arrives, without polling, and leaves other screens alone", async () => {
    setTokens(tokens);
    let titles = ["Pizza order"];
    let stream: ReturnType<typeof sseStream> | undefined;
    const thread = (title: string, i: number) => ({
      id: `th${i}`, title, channel: "telegram", status: "open", ai_enabled: true, needs_human: false, last_message_at: "2026-01-01T00:00:00Z", created_at: "2026-01-01T00:00:00Z",
    });
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/threads": () => json(200, { items: titles.map(thread), next_cursor: null }),
      "GET /api/v1/buffers": () => json(200, { items: [] }),
      "GET /api/v1/events": () => (stream = sseStream()).response,
    });
    render(wrap(<Screen />, { live: true }));
    expect(await screen.findByText("Pizza order")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("live")).toHaveTextContent("open"));
    const count = (path: string) => calls.filter((c) => c.url.split("?")[0] === path).length;
    const before = { threads: count("/api/v1/threads"), buffers: count("/api/v1/buffers") };
    titles = ["Delivery question", "Pizza order"];
    stream!.send("7-0", "message.created", { message_id: "m9", thread_id: "th0" });
    expect(await screen.findByText("Delivery question")).toBeInTheDocument();
    expect(count("/api/v1/threads")).toBe(before.threads + 1);
    expect(count("/api/v1/buffers")).toBe(before.buffers);
    expect(calls.filter((c) => c.url === "/api/v1/events")).toHaveLength(1); // one connection
  });
});
