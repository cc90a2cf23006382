// The Channels page for Meta's types: credential fields per type, the webhook URL and verify token to paste into
// Meta's dashboard (with copy buttons), and editing (credentials kept when left blank, WhatsApp's template).
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { setTokens } from "../api/client";
import { AppRoutes } from "../App";
import { json, stubFetch, wrap } from "../test/helpers";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const me = {
  id: "u1", email: "admin@demo.local", full_name: "Ada", is_superuser: false, is_active: true,
  created_at: "2026-01-01T00:00:00Z", memberships: [{ tenant_id: "t1", tenant_name: "Demo", tenant_slug: "demo", role: "admin" }],
  tenant_id: "t1", role: "admin",
};
const cloud = {
  id: "ch1", type: "whatsapp_cloud", name: "Loja WhatsApp", assistant_id: null,
  credentials: {
    access_token: { is_set: true, last4: "ab12" }, app_secret: { is_set: true, last4: "9f9f" },
    phone_number_id: { is_set: true, last4: "0001" },
  },
  settings: {}, webhook_url: "https://atende.example/webhooks/meta/ch1", verify_token: "vt-Secret-123",
  webhook_registered_at: null, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
};

function stubs(items: unknown[]) {
  return stubFetch({
    "GET /api/v1/auth/me": () => json(200, me),
    "GET /api/v1/channels": () => json(200, { items, next_cursor: null }),
    "GET /api/v1/assistants": () => json(200, { items: [], next_cursor: null }),
    "POST /api/v1/channels": (c) => json(201, { ...cloud, ...(c.body as object), id: "ch2" }),
    "PATCH /api/v1/channels/ch1": (c) => json(200, { ...cloud, ...(c.body as object) }),
  });
}

describe("Meta channels in the console", () => {
  it("shows the webhook URL and verify token to copy, and asks each type for its own credentials", async () => {
    setTokens(tokens);
    const calls = stubs([cloud]);
    const user = userEvent.setup();
    render(wrap(<AppRoutes />, { path: "/channels" }));
    const card = (await screen.findByText("Loja WhatsApp")).closest("li")!;
    expect(within(card).getByText("WhatsApp (Cloud API)")).toBeInTheDocument();
    expect(within(card).getByText("https://atende.example/webhooks/meta/ch1")).toBeInTheDocument();
    expect(within(card).getByText("vt-Secret-123")).toBeInTheDocument();
    expect(within(card).getAllByRole("button", { name: "Copy" })).toHaveLength(2);
    expect(within(card).getByText(/verify token into the webhook settings of your Meta app/)).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText("Type"), "instagram");
    expect(screen.queryByLabelText("Phone number ID")).not.toBeInTheDocument();
    await user.type(screen.getByLabelText("Name"), "Insta");
    await user.type(screen.getByLabelText("Access token"), "EAAGtoken");
    await user.type(screen.getByLabelText("App secret"), "0a".repeat(16));
    await user.type(screen.getByLabelText("Page ID"), "17841400000001");
    expect(screen.getByLabelText("App secret")).toHaveAttribute("type", "password");
    await user.click(screen.getByRole("button", { name: "Create" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({
      type: "instagram", name: "Insta", assistant_id: null,
      credentials: { access_token: "EAAGtoken", app_secret: "0a".repeat(16), page_id: "17841400000001" },
    });
  });

  it("edits a channel: blank credentials are kept, a new one and the 24-hour template are sent", async () => {
    setTokens(tokens);
    const calls = stubs([cloud]);
    const user = userEvent.setup();
    render(wrap(<AppRoutes />, { path: "/channels" }));
    const card = (await screen.findByText("Loja WhatsApp")).closest("li")!;
    await user.click(within(card).getByRole("button", { name: "Edit" }));
    const form = within(card).getByRole("form", { name: "Edit channel" });
    expect(within(form).getByLabelText(/^Access token/)).toHaveAttribute("placeholder", "…ab12");
    await user.clear(within(form).getByLabelText("Name"));
    await user.type(within(form).getByLabelText("Name"), "Loja");
    await user.type(within(form).getByLabelText(/^Access token/), "EAAGnew");
    await user.type(within(form).getByLabelText(/^Template name/), "reopen_chat");
    await user.clear(within(form).getByLabelText("Template language"));
    await user.type(within(form).getByLabelText("Template language"), "pt_BR");
    await user.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    expect(calls.find((c) => c.method === "PATCH")!.body).toEqual({
      name: "Loja",
      credentials: { access_token: "EAAGnew" },
      settings: { template: { name: "reopen_chat", language: "pt_BR" } },
    });
  });

  it("speaks Portuguese", async () => {
    setTokens(tokens);
    stubs([cloud]);
    render(wrap(<AppRoutes />, { path: "/channels", lang: "pt-BR" }));
    expect(await screen.findByText("Token de verificação:")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Editar" })).toBeInTheDocument();
  });
});
