import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { Route, Routes } from "react-router-dom";
import { setTokens } from "../api/client";
import { json, stubFetch, wrap } from "../test/helpers";
import { ContactHistoryPage } from "./Contacts";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const me = {
  id: "u1", email: "admin@demo.local", full_name: "Ada", is_superuser: false, is_active: true, email_verified: true,
  created_at: "2026-01-01T00:00:00Z", memberships: [], tenant_id: "t1", role: "admin",
};
const contact = (id: string, name: string, channel: string, phone: string | null = null) => ({
  id, name, channel, channel_id: null, external_id: null, phone, email: null, attributes: {}, last_seen_at: null,
  created_at: "2026-01-01T00:00:00Z",
});

describe("merge with…", () => {
  it("searches another customer, asks before merging, then posts the merge and reloads the contact", async () => {
    setTokens(tokens);
    const maria = contact("c1", "Maria", "whatsapp_twilio", "+5511999990000");
    const others = [maria, contact("c2", "Maria TG", "telegram")];
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/contacts/c1": () => json(200, maria),
      "GET /api/v1/contacts": () => json(200, { items: others, next_cursor: null }),
      "GET /api/v1/threads": () => json(200, { items: [], next_cursor: null }),
      "GET /api/v1/contacts/c1/messages": () => json(200, { items: [], next_cursor: null }),
      "POST /api/v1/contacts/c1/merge": () => {
        others.splice(1, 1);
        return json(200, maria);
      },
    });
    const user = userEvent.setup();
    render(wrap(<Routes><Route path="/contacts/:contactId" element={<ContactHistoryPage />} /></Routes>, { path: "/contacts/c1" }));
    await user.click(await screen.findByRole("button", { name: "Merge with…" }));
    const panel = screen.getByRole("group", { name: "Merge with…" });
    await user.type(within(panel).getByLabelText("Search contacts"), "Maria");
    await waitFor(() => expect(calls.some((c) => c.url.startsWith("/api/v1/contacts?") && c.url.includes("q=Maria"))).toBe(true));
    expect(within(panel).queryByRole("button", { name: /^Maria whatsapp_twilio/ })).toBeNull(); // not itself
    await user.click(await within(panel).findByRole("button", { name: /Maria TG/ }));
    expect(calls.some((c) => c.method === "POST")).toBe(false); // nothing before the confirmation
    expect(within(panel).getByText(/Merge Maria TG into this contact\?/)).toBeInTheDocument();
    const before = calls.filter((c) => c.url.startsWith("/api/v1/contacts/c1/messages")).length;
    await user.click(within(panel).getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(calls.find((c) => c.method === "POST")?.body).toEqual({ contact_id: "c2" }));
    await waitFor(() => expect(screen.queryByRole("group", { name: "Merge with…" })).toBeNull());
    await waitFor(() => expect(calls.filter((c) => c.url.startsWith("/api/v1/contacts/c1/messages")).length).toBeGreaterThan(before));
    setTokens(null);
  });
});
