// Regressions found by the browser e2e (tests/e2e/test_admin_browser.py) that jsdom alone did not show.
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setTokens } from "../api/client";
import { AppRoutes } from "../App";
import { json, stubFetch, wrap } from "../test/helpers";
import { TryItPanel } from "./Assistants";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const meOf = (is_superuser: boolean) => ({
  id: "u1",
  email: "admin@demo.local",
  full_name: "Ada Admin",
  is_superuser,
  is_active: true,
  created_at: "2026-01-01T00:00:00Z",
  memberships: [{ tenant_id: "t1", tenant_name: "Demo", tenant_slug: "demo", role: "admin" }],
  tenant_id: "t1",
  role: "admin",
});

function sse(...events: [string, unknown][]): Response {
  const text = events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join("");
  return new Response(text, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

describe("try-it panel", () => {
  const original = Element.prototype.scrollIntoView;
  afterEach(() => {
    Element.prototype.scrollIntoView = original;
  });

  it("survives a scrollIntoView that returns a Promise (Chromium 156+) across several answers", async () => {
    // Chromium 156 returns a Promise from scrollIntoView. An effect written as `() => el.scrollIntoView()` hands
    // that Promise to React as its cleanup; the next run calls it: "destroy_ is not a function", blank page.
    const scrolled = vi.fn(() => Promise.resolve());
    Element.prototype.scrollIntoView = scrolled as unknown as typeof Element.prototype.scrollIntoView;
    const errors = vi.spyOn(console, "error");
    setTokens(tokens);
    let n = 0;
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, meOf(false)),
      "POST /api/v1/threads": () => json(201, { id: "th1" }),
      "POST /api/v1/threads/th1/messages": () => {
        n += 1;
        return sse(["delta", { content: `Answer ` }], ["delta", { content: `${n}` }], ["done", null]);
      },
    });
    const user = userEvent.setup();
    render(wrap(<TryItPanel assistantId="as1" />));
    for (const question of ["When do you open?", "And on Sundays?"]) {
      await user.type(screen.getByLabelText("Message"), question);
      await user.click(screen.getByRole("button", { name: "Send" }));
      expect(await screen.findByText(question)).toBeInTheDocument();
    }
    await waitFor(() => expect(screen.getByText("Answer 2")).toBeInTheDocument());
    expect(screen.getByText("Answer 1")).toBeInTheDocument();
    expect(calls.filter((c) => c.url === "/api/v1/threads/th1/messages")).toHaveLength(2);
    expect(scrolled.mock.calls.length).toBeGreaterThan(2); // the effect really ran on every change
    const effectWarnings = errors.mock.calls.filter((args) => /must not return anything besides a function/.test(String(args[0])));
    expect(effectWarnings).toEqual([]);
    errors.mockRestore();
  });
});

describe("tenants list deep link", () => {
  it("waits for /auth/me before deciding, so a superuser's /tenants is not redirected to their own tenant", async () => {
    setTokens(tokens);
    let releaseMe!: () => void;
    const meAnswered = new Promise<void>((resolve) => (releaseMe = resolve));
    const calls = stubFetch({
      "GET /api/v1/auth/me": async () => {
        await meAnswered; // /auth/me answers after the first render, as over a real network
        return json(200, meOf(true));
      },
      "GET /api/v1/tenants": () =>
        json(200, { items: [{ id: "t2", name: "Other Co", slug: "other", status: "active", created_at: "2026-01-01T00:00:00Z" }], next_cursor: null }),
      "GET /api/v1/tenants/t1": () => json(404, { title: "Not Found", status: 404, detail: "redirected" }),
    });
    render(wrap(<AppRoutes />, { path: "/tenants" }));
    await new Promise((r) => setTimeout(r, 50));
    releaseMe();
    expect(await screen.findByRole("heading", { name: "Tenants" })).toBeInTheDocument();
    expect(await screen.findByRole("link", { name: "Other Co" })).toBeInTheDocument();
    expect(calls.some((c) => c.url.startsWith("/api/v1/tenants/t1"))).toBe(false);
  });

  it("still sends a tenant admin from /tenants to their own tenant", async () => {
    setTokens(tokens);
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, meOf(false)),
      "GET /api/v1/tenants": () => json(403, { title: "Forbidden", status: 403, detail: "superusers only" }),
      "GET /api/v1/tenants/t1": () => json(404, { title: "Not Found", status: 404, detail: "stop here" }),
      "GET /api/v1/tenants/t1/secrets": () => json(200, []),
    });
    render(wrap(<AppRoutes />, { path: "/tenants" }));
    await waitFor(() => expect(calls.some((c) => c.url.startsWith("/api/v1/tenants/t1"))).toBe(true));
    expect(screen.queryByRole("heading", { name: "Tenants" })).not.toBeInTheDocument();
  });
});

describe("inbox AI toggle", () => {
  it("shows the operator's choice at once while the PATCH is in flight, then the saved state", async () => {
    setTokens(tokens);
    let ai = true;
    let releasePatch!: () => void;
    const patchDone = new Promise<void>((resolve) => (releasePatch = resolve));
    const thread = () => ({
      id: "th1", assistant_id: null, contact_id: null, channel: "telegram", channel_id: null, title: "Maria", sector: null,
      status: "open", ai_enabled: ai, needs_human: false, last_message_at: null, created_at: "2026-01-01T00:00:00Z",
    });
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, meOf(false)),
      "GET /api/v1/threads": () => json(200, { items: [thread()], next_cursor: null }),
      "GET /api/v1/threads/th1": () => json(200, thread()),
      "GET /api/v1/threads/th1/messages": () => json(200, { items: [], next_cursor: null }),
      "PATCH /api/v1/threads/th1": async (c) => {
        await patchDone;
        ai = (c.body as { ai_enabled: boolean }).ai_enabled;
        return json(200, thread());
      },
    });
    render(wrap(<AppRoutes />, { path: "/inbox/th1" }));
    const toggle = await screen.findByRole("checkbox", { name: "AI answers" });
    expect(toggle).toBeChecked();
    await userEvent.click(toggle);
    expect(toggle).not.toBeChecked(); // before the server answered
    expect(screen.getByText("AI off (human takeover)")).toBeInTheDocument();
    releasePatch();
    await waitFor(() => expect(toggle).toBeEnabled());
    expect(toggle).not.toBeChecked();
    expect(calls.filter((c) => c.method === "PATCH").map((c) => c.body)).toEqual([{ ai_enabled: false }]);
  });
});
