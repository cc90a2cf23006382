import { describe, expect, it } from "vitest";
import { api, ApiError, authFetch, getTokens, readSse, setTokens, unwrap } from "./client";
import { json, stubFetch } from "../test/helpers";

const pair = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: "bearer", expires_in: 900 });

describe("api client", () => {
  it("turns problem+json into an error carrying `detail` (and validation errors into readable text)", async () => {
    stubFetch({
      "GET /api/v1/assistants": () =>
        json(409, { type: "about:blank", title: "Conflict", status: 409, detail: "name already used" }, "application/problem+json"),
      "POST /api/v1/assistants": () =>
        json(422, { title: "Unprocessable", status: 422, detail: null, errors: [{ loc: ["body", "name"], msg: "too short" }] }),
    });
    const err = await api.GET("/api/v1/assistants").then(unwrap).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(409);
    expect(err.message).toBe("name already used");
    const invalid = await api
      .POST("/api/v1/assistants", { body: { name: "", instructions: "", use_knowledge: true, is_default: false, vision: false } })
      .then(unwrap)
      .catch((e) => e);
    expect(invalid.detail).toBe("name: too short");
  });

  it("refreshes silently once on 401 and retries with the new token", async () => {
    setTokens(pair(1));
    const calls = stubFetch({
      "GET /api/v1/auth/me": (c) =>
        c.auth === "Bearer access-2"
          ? json(200, { id: "u", email: "a@b.c", memberships: [] })
          : json(401, { status: 401, detail: "token expired" }),
      "POST /api/v1/auth/refresh": (c) =>
        (c.body as { refresh_token: string }).refresh_token === "refresh-1" ? json(200, pair(2)) : json(401, { detail: "used" }),
    });
    const me = unwrap(await api.GET("/api/v1/auth/me"));
    expect(me.email).toBe("a@b.c");
    expect(getTokens()?.access_token).toBe("access-2");
    expect(calls.map((c) => `${c.method} ${c.url} ${c.auth ?? ""}`)).toEqual([
      "GET /api/v1/auth/me Bearer access-1",
      "POST /api/v1/auth/refresh ",
      "GET /api/v1/auth/me Bearer access-2",
    ]);
    // authFetch (uploads, downloads, SSE) shares the logic.
    setTokens(pair(1));
    const resp = await authFetch("/api/v1/auth/me");
    expect(resp.status).toBe(200);
  });

  it("ends the session when the refresh token is refused", async () => {
    setTokens(pair(1));
    stubFetch({
      "GET /api/v1/auth/me": () => json(401, { status: 401, detail: "token expired" }),
      "POST /api/v1/auth/refresh": () => json(401, { status: 401, detail: "refresh token reused" }),
    });
    const result = await api.GET("/api/v1/auth/me");
    expect(result.response.status).toBe(401);
    expect(getTokens()).toBeNull();
  });

  it("parses SSE split across chunks and CRLF line ends", async () => {
    const parts = ["event: delta\r\ndata: {\"content\":\"Ol", "á\"}\r\n\r\nevent: delta\r\n", "data: {\"content\":\" mundo\"}\r\n\r\n", ": ping\r\n\r\nevent: done\r\ndata: null\r\n\r\n"];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(new TextEncoder().encode(p));
        c.close();
      },
    });
    const events = [];
    for await (const ev of readSse(new Response(body))) events.push(ev);
    expect(events).toEqual([
      { event: "delta", data: '{"content":"Olá"}' },
      { event: "delta", data: '{"content":" mundo"}' },
      { event: "done", data: "null" },
    ]);
  });
});
