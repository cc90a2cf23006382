// The widget's calls to the web chat API (API.md "Web chat"), all on the gateway that served widget.js.

export type Role = "user" | "assistant" | "agent";

export interface ChatMessage {
  id: string;
  role: Role;
  content: string;
  created_at: string;
  images?: string[]; // object URLs of the visitor's own images, shown in their bubble (local only)
}

/** What the widget shows, from the channel's settings (the sessions answer's `channel`). */
export interface Look {
  name?: string | null;
  greeting?: string | null;
  color?: string | null;
  locale?: string | null;
}

/** POST /api/v1/widget/sessions → 201. */
export interface Session {
  visitor_token: string;
  visitor_id: string;
  expires_in: number;
  channel?: Look | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

async function answer<T>(resp: Response): Promise<T> {
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      detail = (await resp.json()).detail ?? detail;
    } catch {
      /* not problem+json */
    }
    throw new ApiError(resp.status, detail);
  }
  return (await resp.json()) as T;
}

export class WidgetApi {
  constructor(readonly base: string) {}

  async session(body: { public_key: string; visitor_id?: string; name?: string; email?: string }): Promise<Session> {
    const resp = await fetch(`${this.base}/api/v1/widget/sessions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    });
    return answer<Session>(resp);
  }

  async history(token: string, after?: string): Promise<ChatMessage[]> {
    const query = after ? `?after=${encodeURIComponent(after)}` : "";
    const resp = await fetch(`${this.base}/api/v1/widget/messages${query}`, {
      headers: { Authorization: `Bearer ${token}` },
      credentials: "omit",
    });
    return (await answer<{ items: ChatMessage[] }>(resp)).items;
  }

  async send(token: string, body: { text: string; client_id: string; attachments?: unknown[] }): Promise<{ id: string }> {
    const resp = await fetch(`${this.base}/api/v1/widget/messages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    });
    return answer<{ id: string }>(resp);
  }

  /** EventSource cannot send headers: the token goes in the query (the browser adds Last-Event-ID on its retries). */
  streamUrl(token: string): string {
    return `${this.base}/api/v1/widget/stream?token=${encodeURIComponent(token)}`;
  }
}
