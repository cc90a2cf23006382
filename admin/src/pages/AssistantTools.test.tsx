import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { setTokens } from "../api/client";
import { json, stubFetch, wrap } from "../test/helpers";
import { schemaProblem, ToolMessage, ToolsEditor, type Tool } from "./AssistantTools";

const me = {
  id: "u1", email: "admin@demo.local", full_name: "Ada Admin", is_superuser: false, is_active: true, created_at: "2026-01-01T00:00:00Z",
  memberships: [{ tenant_id: "t1", tenant_name: "Demo", tenant_slug: "demo", role: "admin" }], tenant_id: "t1", role: "admin",
};
const tokens = { access_token: "a", refresh_token: "r", token_type: "bearer", expires_in: 900, tenant_id: "t1", role: "admin" };
const order: Tool = {
  id: "tool1", assistant_id: "a1", type: "http", name: "check_order", description: "Looks an order up.",
  parameters: { type: "object", properties: { order_id: { type: "string" } } }, url: "https://shop.example/hook",
  method: "POST", timeout_seconds: 10, secret_name: "hook",
};

describe("tools editor", () => {
  it("refuses an invalid schema before saving, then creates the tool and lists it", async () => {
    setTokens(tokens);
    const tools: Tool[] = [];
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/assistants/a1/tools": () => json(200, { items: tools, next_cursor: null }),
      "POST /api/v1/assistants/a1/tools": (c) => {
        const created = { ...order, ...(c.body as object), id: "tool2" } as Tool;
        tools.push(created);
        return json(201, created);
      },
    });
    const user = userEvent.setup();
    render(wrap(<ToolsEditor assistantId="a1" />));
    expect(await screen.findByText("No tools yet: the assistant can only talk.")).toBeInTheDocument();
    await user.click(await screen.findByRole("button", { name: "Add tool" }));
    const form = screen.getByRole("form", { name: "New tool" });
    await user.type(within(form).getByLabelText(/^Name/), "check_order");
    await user.type(within(form).getByLabelText("URL"), "https://shop.example/hook");
    await user.type(within(form).getByLabelText("Signing secret (name)", { exact: false }), "hook");
    const schema = within(form).getByLabelText("Parameters (JSON Schema)");
    await user.clear(schema);
    await user.click(schema);
    await user.paste('{"type": "array"}');
    await user.click(within(form).getByRole("button", { name: "Save" }));
    expect(within(form).getByRole("alert")).toHaveTextContent('"type": "object"');
    expect(calls.some((c) => c.method === "POST")).toBe(false);

    await user.clear(schema);
    await user.paste('{"type": "object", "properties": {"order_id": {"type": "string"}}}');
    await user.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.body).toMatchObject({
      type: "http", name: "check_order", url: "https://shop.example/hook", method: "POST", secret_name: "hook",
      parameters: { type: "object", properties: { order_id: { type: "string" } } },
    });
    expect(await screen.findByText("check_order")).toBeInTheDocument();
    expect(screen.getByText("signed")).toBeInTheDocument();
  });

  it("tries a tool with arguments and shows the status, time and result", async () => {
    setTokens(tokens);
    const calls = stubFetch({
      "GET /api/v1/auth/me": () => json(200, me),
      "GET /api/v1/assistants/a1/tools": () => json(200, { items: [order], next_cursor: null }),
      "POST /api/v1/assistants/a1/tools/tool1/test": () => json(200, { status: "timeout", result: "the tool did not answer within 10 s", latency_ms: 10002 }),
    });
    const user = userEvent.setup();
    render(wrap(<ToolsEditor assistantId="a1" />, { lang: "pt-BR" }));
    await user.click(await screen.findByRole("button", { name: "Experimente" }));
    const box = screen.getByLabelText("Argumentos (JSON)");
    await user.clear(box);
    await user.click(box);
    await user.paste('{"order_id": "42"}');
    await user.click(screen.getByRole("button", { name: "Chamar" }));
    const status = await screen.findByText(/10002 ms/);
    expect(status).toHaveTextContent("tempo esgotado");
    expect(screen.getByText("the tool did not answer within 10 s")).toBeInTheDocument();
    expect(calls.find((c) => c.url.endsWith("/test"))!.body).toEqual({ arguments: { order_id: "42" } });
  });

  it("checks a parameters schema like the server's first rules", () => {
    expect(schemaProblem("{")).toBe("Parameters must be valid JSON.");
    expect(schemaProblem("[]")).toBe("Parameters must be a JSON object.");
    expect(schemaProblem('{"type": "object"}')).toBeNull();
  });
});

describe("tool message", () => {
  it("is collapsed to name, status and time, with arguments and result inside", async () => {
    const message = {
      id: "m1", content: '{"status": "shipped"}', created_at: "2026-01-01T00:00:00Z", tool_name: "check_order",
      arguments: { order_id: "42" }, result: '{"status": "shipped"}', status: "error", latency_ms: 12,
    };
    const { container } = render(wrap(<ToolMessage message={message} />));
    const details = container.querySelector("details.bubble.tool")!;
    expect(details).not.toHaveAttribute("open");
    expect(details.querySelector("summary")).toHaveTextContent(/check_order · error · 12 ms/);
    await userEvent.click(screen.getByText("check_order"));
    expect(details).toHaveAttribute("open");
    expect(within(details as HTMLElement).getByText(/"order_id": "42"/)).toBeInTheDocument();
  });
});
