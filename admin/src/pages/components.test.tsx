import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { setTokens } from "../api/client";
import { AppRoutes } from "../App";
import { Countdown, Show, type Loadable } from "../components/ui";
import { json, stubFetch, wrap } from "../test/helpers";
import { NewKeyPanel } from "./ApiKeys";
import { ReviewButtons } from "./Inbox";
import { fillDays } from "./DashboardCharts";
import { clock } from "./Transcriptions";

const me = {
  id: "u1",
  email: "admin@demo.local",
  full_name: "Ada Admin",
  is_superuser: false,
  is_active: true,
  created_at: "2026-01-01T00:00:00Z",
  memberships: [{ tenant_id: "t1", tenant_name: "Demo", tenant_slug: "demo", role: "admin" }],
  tenant_id: "t1",
  role: "admin",
};
const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };

describe("login", () => {
  it("shows the problem+json detail when the password is wrong, then signs in", async () => {
    const user = userEvent.setup();
    let attempts = 0;
    stubFetch({
      "POST /api/v1/auth/login": () =>
        ++attempts === 1
          ? json(401, { type: "about:blank", title: "Unauthorized", status: 401, detail: "wrong email or password" }, "application/problem+json")
          : json(200, tokens),
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/metrics": () =>
        json(200, {
          unique_contacts: 3, threads: 4, ai_answers: 5, human_answers: 1, messages_by_role: {}, all_tenants: false,
          approval: { approved: 1, rejected: 1, pending: 0, approval_rate: 0.5 }, tokens: { requests: 1, tokens_in: 10, tokens_out: 5 },
          first_response_median_seconds: 2.5, first_response_p90_seconds: 9, per_day: [], date_from: "2026-01-01", date_to: "2026-01-30",
        }),
    });
    render(wrap(<AppRoutes />, { path: "/login" }));
    await user.type(screen.getByLabelText("Email"), "admin@demo.local");
    await user.type(screen.getByLabelText("Password"), "nope");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("wrong email or password");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("heading", { name: "Dashboard" })).toBeInTheDocument();
    expect(await screen.findByText("50%")).toBeInTheDocument(); // approval rate
    expect(screen.getByText("2.5 s")).toBeInTheDocument();
    expect(await screen.findByText("No activity in this period.")).toBeInTheDocument(); // the charts chunk loads lazily
  });

  it("speaks Portuguese when asked", async () => {
    render(wrap(<AppRoutes />, { path: "/login", lang: "pt-BR" }));
    expect(screen.getByRole("button", { name: "Entrar" })).toBeInTheDocument();
    expect(screen.getByLabelText("Senha")).toBeInTheDocument();
  });

  it("sends a signed-out visitor of a deep link to the login page", () => {
    render(wrap(<AppRoutes />, { path: "/inbox/123" }));
    expect(screen.getByRole("button", { name: "Log in" })).toBeInTheDocument();
  });
});

describe("states", () => {
  const loaded = <T,>(over: Partial<Loadable<T>>): Loadable<T> => ({ data: undefined, error: null, refetch: async () => {}, ...over });
  it("shows loading, error with retry, empty and content", async () => {
    const refetch = vi.fn(async () => {});
    const { rerender } = render(wrap(<Show loaded={loaded<string[]>({})}>{() => "content"}</Show>));
    expect(screen.getByRole("status")).toHaveTextContent("Loading…");
    rerender(wrap(<Show loaded={loaded<string[]>({ error: new Error("upstream down"), refetch })}>{() => "content"}</Show>));
    expect(screen.getByRole("alert")).toHaveTextContent("upstream down");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(refetch).toHaveBeenCalled();
    rerender(wrap(<Show loaded={loaded<string[]>({ data: [] })} isEmpty={(d) => d.length === 0} empty="Nothing here">{() => "content"}</Show>));
    expect(screen.getByText("Nothing here")).toBeInTheDocument();
    rerender(wrap(<Show loaded={loaded<string[]>({ data: ["x"] })} isEmpty={(d) => d.length === 0} empty="Nothing here">{(d) => `got ${d[0]}`}</Show>));
    expect(screen.getByText("got x")).toBeInTheDocument();
  });
});

describe("API key", () => {
  it("shows the new key once with a copy button", async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const onClose = vi.fn();
    const created = { id: "k", name: "CI", prefix: "atd_ab", scopes: ["read"], tenant_id: "t1", created_at: "2026-01-01T00:00:00Z", key: "atd_abcdef123456", created_by: null, expires_at: null, last_used_at: null, revoked_at: null };
    render(wrap(<NewKeyPanel created={created} onClose={onClose} />));
    expect(screen.getByTestId("new-key")).toHaveTextContent("atd_abcdef123456");
    expect(screen.getByText("Copy it now. It will not be shown again.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith("atd_abcdef123456");
    expect(await screen.findByRole("button", { name: "Copied" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "I saved it" }));
    expect(onClose).toHaveBeenCalled();
  });
});

describe("review", () => {
  it("approves, and corrects with the corrected text and the operator's name", async () => {
    setTokens(tokens);
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "PATCH /api/v1/messages/m1": (c) => json(200, { id: "m1", ...(c.body as object) }),
    });
    const message = {
      id: "m1", thread_id: "th", role: "assistant", content: "Abrimos às 9h", validated_by: "pending", incomplete: false, created_at: "2026-01-01T00:00:00Z",
      contact_id: null, sector: null, review: null, corrected_content: null, operator_name: null, reviewed_at: null, model: "m", tokens_in: 1, tokens_out: 1, latency_ms: 1,
    };
    render(wrap(<ReviewButtons message={message} />));
    expect(screen.getByText("awaiting approval")).toBeInTheDocument();
    await waitFor(() => expect(calls.some((c) => c.url === "/api/v1/auth/me")).toBe(true));
    await userEvent.click(screen.getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(1));
    await userEvent.click(screen.getByRole("button", { name: "Correct" }));
    const box = screen.getByLabelText("Corrected answer");
    await userEvent.clear(box);
    await userEvent.type(box, "Abrimos às 8h");
    await userEvent.click(screen.getByRole("button", { name: "Save correction" }));
    await waitFor(() => expect(screen.queryByLabelText("Corrected answer")).not.toBeInTheDocument()); // saved: closed
    const patches = calls.filter((c) => c.method === "PATCH").map((c) => c.body);
    expect(patches).toEqual([
      { validated_by: "human", review: "approved", corrected_content: null, operator_name: "Ada Admin" },
      { validated_by: "human", review: "approved", corrected_content: "Abrimos às 8h", operator_name: "Ada Admin" },
    ]);
  });
});

describe("agent reply", () => {
  it("is sent with the signed-in operator's name, not their user id", async () => {
    setTokens(tokens);
    const thread = { id: "th1", title: "Pedido", status: "open", ai_enabled: false, sector: null, channel: "telegram", contact_id: null, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/threads": () => json(200, { items: [thread], next_cursor: null }),
      "GET /api/v1/threads/th1": () => json(200, thread),
      "GET /api/v1/threads/th1/messages": () => json(200, { items: [], next_cursor: null }),
      "GET /api/v1/threads/counts": () => json(200, { total: 1, by_sector: {} }),
      "POST /api/v1/threads/th1/messages": (c) => json(201, { user_message: { id: "m2", ...(c.body as object) }, assistant_message: null }),
    });
    render(wrap(<AppRoutes />, { path: "/inbox/th1" }));
    await waitFor(() => expect(calls.some((c) => c.url === "/api/v1/auth/me")).toBe(true));
    await userEvent.type(await screen.findByLabelText("Reply as agent"), "Entregamos sim");
    await userEvent.click(screen.getByRole("button", { name: "Send reply" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(1));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ content: "Entregamos sim", role: "agent", operator_name: "Ada Admin" });
  });
});

describe("countdown and formatting", () => {
  it("counts down to the flush and then says it is flushing", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
    render(wrap(<Countdown due="2026-01-01T00:00:05Z" />));
    expect(screen.getByText("flush in 5s")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(3000));
    expect(screen.getByText("flush in 2s")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(2500));
    expect(screen.getByText("flushing…")).toBeInTheDocument();
  });

  it("formats segment times", () => {
    expect(clock(0)).toBe("0:00.0");
    expect(clock(65.25)).toBe("1:05.3");
    expect(clock(3725)).toBe("1:02:05.0");
  });

  it("puts every day of the period on the chart's axis, zero where nothing happened", () => {
    const one = { day: "2026-01-03", messages: 4, threads: 1, contacts: 1, ai_answers: 2, human_answers: 1, first_response_median_seconds: 3.5 };
    const days = fillDays([one], "2026-01-01", "2026-01-05");
    expect(days.map((d) => d.day)).toEqual(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]);
    expect(days.map((d) => d.messages)).toEqual([0, 0, 4, 0, 0]); // one busy day is one bar of five, not a block
    expect(days[2]).toMatchObject({ ai: 2, human: 1, firstResponse: 3.5 });
    expect(days[0].firstResponse).toBeNull(); // no answer that day: a gap, not a zero-second response
    expect(fillDays([one], "2026-01-03", "2026-01-03")).toHaveLength(1);
  });
});
