import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Route, Routes } from "react-router-dom";
import { setTokens } from "../api/client";
import { json, stubFetch, wrap } from "../test/helpers";
import { RegisterPage, UsersPage, VerifyEmailPage } from "./Account";
import { ContactHistoryPage } from "./Contacts";
import { SectorChips, ThreadActions } from "./Inbox";
import { InactiveBanner } from "../App";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const su = {
  id: "u1", email: "root@demo.local", full_name: "Root", is_superuser: true, is_active: true, email_verified: true,
  created_at: "2026-01-01T00:00:00Z", memberships: [], tenant_id: "t1", role: "admin",
};
const msg = (id: string, thread_id: string, role: string, content: string, at: string) => ({
  id, thread_id, contact_id: "c1", role, content, sector: null, validated_by: null, review: null, corrected_content: null,
  operator_name: null, reviewed_at: null, model: null, tokens_in: null, tokens_out: null, latency_ms: null, incomplete: false, created_at: at,
});
const thread = (id: string, channel: string, title: string, extra: Record<string, unknown> = {}) => ({
  id, assistant_id: null, contact_id: "c1", channel, channel_id: null, title, sector: null, status: "open", ai_enabled: true,
  needs_human: false, last_message_at: "2026-01-02T00:00:00Z", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
  deleted_at: null, created_by: null, ...extra,
});

describe("issue 27 screens", () => {
  it("shows a customer's history across threads, one divider per conversation with its channel", async () => {
    setTokens(tokens);
    stubFetch({
      "GET /api/v1/auth/me": () => json(200, su),
      "GET /api/v1/contacts/c1": () =>
        json(200, { id: "c1", name: "Maria", channel: "telegram", channel_id: null, external_id: "42", phone: null, email: null, attributes: {}, last_seen_at: null, created_at: "2026-01-01T00:00:00Z" }),
      "GET /api/v1/threads": () => json(200, { items: [thread("th1", "telegram", "Maria"), thread("th2", "api", "Follow-up")], next_cursor: null }),
      "GET /api/v1/contacts/c1/messages": () =>
        json(200, {
          items: [
            msg("m1", "th1", "user", "Oi, meu pedido?", "2026-01-01T10:00:00Z"),
            msg("m2", "th1", "assistant", "Já sai!", "2026-01-01T10:00:05Z"),
            msg("m3", "th2", "user", "Troca, por favor", "2026-01-02T09:00:00Z"),
          ],
          next_cursor: null,
        }),
    });
    render(wrap(<Routes><Route path="/contacts/:contactId" element={<ContactHistoryPage />} /></Routes>, { path: "/contacts/c1" }));
    const history = await screen.findByLabelText("Whole history");
    await within(history).findByText("Troca, por favor");
    const dividers = history.querySelectorAll(".thread-divider");
    expect([...dividers].map((d) => d.textContent)).toEqual(["Mariatelegram", "Follow-upapi"]);
    expect(screen.getByRole("heading", { name: "Maria" })).toBeInTheDocument();
    setTokens(null);
  });

  it("sector chips show per-sector counts and filter by the chosen one", async () => {
    setTokens(tokens);
    stubFetch({
      "GET /api/v1/auth/me": () => json(200, su),
      "GET /api/v1/threads/counts": () => json(200, { items: [{ sector: "Vendas", count: 3 }, { sector: null, count: 2 }, { sector: "Suporte", count: 1 }] }),
    });
    const chosen: string[] = [];
    render(wrap(<SectorChips sector="" onChange={(s) => chosen.push(s)} />));
    const vendas = await screen.findByRole("button", { name: "Vendas 3" });
    expect(screen.getByRole("button", { name: "All sectors 6" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.setup().click(vendas);
    expect(chosen).toEqual(["Vendas"]);
    setTokens(null);
  });

  it("renames, deletes and restores a thread", async () => {
    setTokens(tokens);
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, su),
      "PATCH /api/v1/threads/th1": () => json(200, thread("th1", "api", "New name")),
      "DELETE /api/v1/threads/th1": () => json(204, null),
      "POST /api/v1/threads/th1/restore": () => json(200, thread("th1", "api", "New name")),
    });
    vi.stubGlobal("confirm", () => true);
    const user = userEvent.setup();
    const writes = () => calls.filter((c) => c.method !== "GET");
    const { rerender } = render(wrap(<ThreadActions thread={thread("th1", "api", "Old")} />));
    await user.click(screen.getByRole("button", { name: "Rename" }));
    await user.clear(screen.getByLabelText("Conversation title"));
    await user.type(screen.getByLabelText("Conversation title"), "New name");
    await user.click(screen.getByRole("button", { name: "Save" }));
    await user.click(await screen.findByRole("button", { name: "Delete" }));
    await waitFor(() => expect(writes()).toHaveLength(2));
    rerender(wrap(<ThreadActions thread={thread("th1", "api", "New name", { deleted_at: "2026-01-03T00:00:00Z" })} />));
    await user.click(screen.getByRole("button", { name: "Restore" }));
    await waitFor(() => expect(writes()).toHaveLength(3));
    expect(writes().map((c) => [c.method, c.url, c.body])).toEqual([
      ["PATCH", "/api/v1/threads/th1", { title: "New name" }],
      ["DELETE", "/api/v1/threads/th1", null],
      ["POST", "/api/v1/threads/th1/restore", null],
    ]);
    setTokens(null);
  });

  it("signs up, then confirms the address with the token from the mail's link", async () => {
    const calls = stubFetch({
      "POST /api/v1/auth/register": () => json(201, { ...su, is_superuser: false, email: "new@x.io" }),
      "POST /api/v1/auth/verify-email": () => json(204, null),
    });
    const user = userEvent.setup();
    const { unmount } = render(wrap(<RegisterPage />, { lang: "pt-BR" }));
    await user.type(screen.getByLabelText("E-mail"), "new@x.io");
    await user.type(screen.getByLabelText("Senha"), "a-long-password-1");
    await user.type(screen.getByLabelText(/^Nome da empresa/), "Loja");
    await user.click(screen.getByRole("button", { name: "Cadastrar-se" }));
    expect(await screen.findByText("Quase lá: enviamos um código de confirmação para new@x.io.")).toBeInTheDocument();
    unmount();
    render(wrap(<VerifyEmailPage />, { path: "/verify-email?token=tok-123" }));
    expect(screen.getByLabelText("Confirmation code")).toHaveValue("tok-123");
    await user.click(screen.getByRole("button", { name: "Confirm" }));
    expect(await screen.findByText("Your email address is confirmed.")).toBeInTheDocument();
    expect(calls.map((c) => [c.url, c.body])).toEqual([
      ["/api/v1/auth/register", { email: "new@x.io", password: "a-long-password-1", full_name: "", tenant_name: "Loja" }],
      ["/api/v1/auth/verify-email", { token: "tok-123" }],
    ]);
  });

  it("lets a superuser deactivate another account", async () => {
    setTokens(tokens);
    let active = true;
    const other = { ...su, id: "u2", email: "agent@demo.local", is_superuser: false };
    stubFetch({
      "GET /api/v1/auth/me": () => json(200, su),
      "GET /api/v1/users": () => json(200, { items: [su, { ...other, is_active: active }], next_cursor: null }),
      "PATCH /api/v1/users/u2": (c) => {
        active = (c.body as { is_active: boolean }).is_active;
        return json(200, { ...other, is_active: active });
      },
    });
    vi.stubGlobal("confirm", () => true);
    render(wrap(<UsersPage />));
    const row = await screen.findByText("agent@demo.local");
    const tr = row.closest("tr") as HTMLElement;
    await userEvent.setup().click(within(tr).getByRole("button", { name: "Deactivate" }));
    await within(tr).findByRole("button", { name: "Activate" });
    expect(active).toBe(false);
    // No button on one's own row.
    const mine = screen.getByText("root@demo.local").closest("tr") as HTMLElement;
    expect(within(mine).queryByRole("button")).toBeNull();
    setTokens(null);
  });

  it("tells a superuser inside an inactive company that its AI answers are paused, in en and pt-BR", async () => {
    setTokens(tokens);
    const company = (id: string, name: string, status: string) => ({
      id, name, slug: name.toLowerCase(), status, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
    });
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, su),
      "GET /api/v1/tenants": () => json(200, { items: [company("t1", "Closed Co", "inactive"), company("t2", "Open Co", "active")], next_cursor: null }),
    });
    const { unmount } = render(wrap(<InactiveBanner />));
    expect(await screen.findByRole("status")).toHaveTextContent("Closed Co inactive: AI answers paused");
    unmount();
    render(wrap(<InactiveBanner />, { lang: "pt-BR" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Closed Co inativa: respostas da IA pausadas");
    expect(calls.some((c) => c.url.startsWith("/api/v1/tenants"))).toBe(true);
    setTokens(null);
  });
});
