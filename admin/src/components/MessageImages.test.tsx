// The inbox's images: loaded with the session's token (never a token in a URL), shown as thumbnails that open the
// full image; and the assistant form's vision toggle reaching the API.
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setTokens } from "../api/client";
import { AppRoutes } from "../App";
import { json, stubFetch, wrap } from "../test/helpers";
import { MessageImages } from "./MessageImages";

const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const attachment = (n: number, size = 2048) => ({
  position: n,
  type: "image",
  mime_type: "image/png",
  size,
  sha256: "ab".repeat(32),
  url: `/api/v1/messages/m1/attachments/${n}`,
});

describe("message images", () => {
  const made: Blob[] = [];
  beforeEach(() => {
    made.length = 0;
    vi.stubGlobal("URL", Object.assign(URL, {
      createObjectURL: vi.fn((b: Blob) => (made.push(b), `blob:http://localhost/${made.length}`)),
      revokeObjectURL: vi.fn(),
    }));
  });
  afterEach(() => vi.unstubAllGlobals());

  it("fetches each image with the session's token and links the thumbnail to the full image", async () => {
    setTokens(tokens);
    const calls = stubFetch({
      "GET /api/v1/messages/m1/attachments/0": () => new Response(PNG, { status: 200, headers: { "Content-Type": "image/png" } }),
      "GET /api/v1/messages/m1/attachments/1": () => json(404, { status: 404, detail: "gone" }, "application/problem+json"),
    });
    const { unmount } = render(wrap(<MessageImages attachments={[attachment(0), attachment(1, 512)]} />));
    const img = await screen.findByRole("img", { name: "Image 1 (2 KB)" });
    expect(img).toHaveAttribute("src", "blob:http://localhost/1");
    expect(img.closest("a")).toHaveAttribute("href", "blob:http://localhost/1");
    expect(img.closest("a")).toHaveAttribute("target", "_blank");
    expect(await screen.findByText("image unavailable")).toBeInTheDocument();
    expect(calls.filter((c) => c.url.includes("/attachments/")).map((c) => [c.url, c.auth])).toEqual([
      ["/api/v1/messages/m1/attachments/0", "Bearer a"],
      ["/api/v1/messages/m1/attachments/1", "Bearer a"],
    ]);
    expect(new Uint8Array(await made[0].arrayBuffer())).toEqual(PNG);
    unmount();
    expect(URL.revokeObjectURL).toHaveBeenCalledWith("blob:http://localhost/1");
  });

  it("renders nothing without attachments, and speaks Portuguese", async () => {
    const { container } = render(wrap(<MessageImages attachments={[]} />));
    expect(container).toBeEmptyDOMElement();
    stubFetch({ "GET /api/v1/messages/m1/attachments/0": () => new Response(PNG, { status: 200 }) });
    render(wrap(<MessageImages attachments={[attachment(0)]} />, { lang: "pt-BR" }));
    expect(await screen.findByRole("img", { name: "Imagem 1 (2 KB)" })).toBeInTheDocument();
  });
});

describe("assistant form", () => {
  it("saves the vision toggle", async () => {
    setTokens(tokens);
    const assistant = {
      id: "as1", name: "Bella", instructions: "", model: null, temperature: null, use_knowledge: true, is_default: true,
      vision: false, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
    };
    const calls = stubFetch({
      "GET /api/v1/auth/me": () =>
        json(200, {
          id: "u1", email: "admin@demo.local", full_name: "Ada", is_superuser: false, is_active: true,
          created_at: "2026-01-01T00:00:00Z", tenant_id: "t1", role: "admin",
          memberships: [{ tenant_id: "t1", tenant_name: "Demo", tenant_slug: "demo", role: "admin" }],
        }),
      "GET /api/v1/assistants/as1": () => json(200, assistant),
      "PATCH /api/v1/assistants/as1": (c) => json(200, { ...assistant, ...(c.body as object) }),
    });
    const user = userEvent.setup();
    render(wrap(<AppRoutes />, { path: "/assistants/as1" }));
    const toggle = await screen.findByRole("checkbox", { name: /Vision: the model sees customers' images/ });
    expect(toggle).not.toBeChecked();
    await user.click(toggle);
    await user.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    expect(calls.find((c) => c.method === "PATCH")?.body).toMatchObject({ vision: true });
  });
});
