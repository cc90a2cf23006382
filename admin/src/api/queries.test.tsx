// The data layer over a stand-in network: one cache entry per [path, params], invalidation after a write,
// and the problem+json detail as the error every screen shows.
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { setTokens } from "./client";
import { ErrorBox, Show } from "../components/ui";
import { json, stubFetch, testQueryClient, wrap } from "../test/helpers";
import { useApiMutation, useApiQuery } from "./queries";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const me = { id: "u1", email: "a@b.c", is_superuser: false, is_active: true, created_at: "2026-01-01T00:00:00Z", memberships: [] };

function Keys() {
  const keys = useApiQuery("/api/v1/api-keys", { params: { query: { limit: 200 } } });
  const revoke = useApiMutation("delete", "/api/v1/api-keys/{key_id}", { invalidates: ["/api/v1/api-keys"] });
  return (
    <>
      <Show loaded={keys}>{(page) => <ul>{page.items.map((k) => <li key={k.id}>{k.name}</li>)}</ul>}</Show>
      <button type="button" onClick={() => revoke.mutate({ params: { path: { key_id: "k1" } } })}>revoke</button>
      <ErrorBox error={revoke.error} />
    </>
  );
}

describe("useApiQuery / useApiMutation", () => {
  it("shares one request between two readers of the same key, and refetches after a write", async () => {
    setTokens(tokens);
    let names = ["first key"];
    let deletes = 0;
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/api-keys": () =>
        json(200, { items: names.map((name, i) => ({ id: `k${i}`, name, prefix: "atd_x", scopes: ["read"], created_at: "2026-01-01T00:00:00Z" })), next_cursor: null }),
      "DELETE /api/v1/api-keys/k1": () => {
        deletes += 1;
        if (deletes === 2) return json(409, { title: "Conflict", status: 409, detail: "the key is already revoked" }, "application/problem+json");
        names = ["second key"];
        return json(204, null);
      },
    });
    const client = testQueryClient();
    client.setDefaultOptions({ queries: { retry: false, staleTime: 60_000 } });
    render(wrap(<><Keys /><Keys /></>, { client }));
    expect(await screen.findAllByText("first key")).toHaveLength(2);
    const reads = () => calls.filter((c) => c.method === "GET" && c.url.startsWith("/api/v1/api-keys")).length;
    expect(reads()).toBe(1); // two readers, one request
    expect(calls.find((c) => c.url.startsWith("/api/v1/api-keys"))?.auth).toBe("Bearer a");
    await userEvent.click(screen.getAllByRole("button", { name: "revoke" })[0]);
    expect(await screen.findAllByText("second key")).toHaveLength(2); // invalidated: both readers see the change
    expect(reads()).toBe(2);
    // A refused write shows its problem+json detail, the list stays as it was.
    await userEvent.click(screen.getAllByRole("button", { name: "revoke" })[0]);
    expect(await screen.findByRole("alert")).toHaveTextContent("the key is already revoked");
    expect(reads()).toBe(2);
  });

  it("shows a failed read's problem detail with a retry that refetches", async () => {
    setTokens(tokens);
    let fail = true;
    stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/api-keys": () =>
        fail
          ? json(503, { title: "Service Unavailable", status: 503, detail: "auth is restarting" }, "application/problem+json")
          : json(200, { items: [{ id: "k0", name: "back again", prefix: "atd_x", scopes: ["read"], created_at: "2026-01-01T00:00:00Z" }], next_cursor: null }),
    });
    render(wrap(<Keys />));
    expect(await screen.findByRole("alert")).toHaveTextContent("auth is restarting");
    fail = false;
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(screen.getByText("back again")).toBeInTheDocument());
  });
});
