// The typed API client: openapi-fetch over the types generated from the gateway's merged OpenAPI
// (src/api/schema.d.ts, `make admin-api`). Tokens live here; a 401 triggers one silent refresh and a retry.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type { paths };

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_at: number; // epoch ms
  tenant_id: string | null;
  role: string | null;
}

const STORAGE_KEY = "atende.session";
type Listener = (tokens: Tokens | null) => void;
const listeners = new Set<Listener>();
let current: Tokens | null = load();

function load(): Tokens | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

export function getTokens(): Tokens | null {
  return current;
}

export function setTokens(pair: Schemas["TokenPair"] | null): Tokens | null {
  current = pair
    ? {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        expires_at: Date.now() + pair.expires_in * 1000,
        tenant_id: pair.tenant_id ?? null,
        role: pair.role ?? null,
      }
    : null;
  if (current) localStorage.setItem(STORAGE_KEY, JSON.stringify(current));
  else localStorage.removeItem(STORAGE_KEY);
  listeners.forEach((l) => l(current));
  return current;
}

export function onTokens(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** A problem+json answer (or a network failure) as an Error whose message is the `detail` users see. */
export class ApiError extends Error {
  status: number;
  title: string;
  detail: string;
  errors: { loc?: unknown[]; msg: string }[];

  constructor(status: number, body: unknown, fallback = "Request failed") {
    const p = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
    const errors = Array.isArray(p.errors) ? (p.errors as { loc?: unknown[]; msg: string }[]) : [];
    const detail =
      typeof p.detail === "string"
        ? p.detail
        : errors.length
          ? errors.map((e) => `${(e.loc ?? []).slice(1).join(".")}: ${e.msg}`).join("; ")
          : typeof p.title === "string"
            ? p.title
            : `${fallback} (HTTP ${status})`;
    super(detail);
    this.status = status;
    this.title = typeof p.title === "string" ? p.title : "";
    this.detail = detail;
    this.errors = errors;
  }
}

let refreshing: Promise<boolean> | null = null;

/** One refresh at a time; false when the session is over (the user must log in again). */
export function refreshTokens(): Promise<boolean> {
  const tokens = current;
  if (!tokens) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const resp = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens.refresh_token }),
      });
      if (!resp.ok) {
        if (resp.status === 401) setTokens(null);
        return false;
      }
      setTokens((await resp.json()) as Schemas["TokenPair"]);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

const NO_AUTH = ["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"];

function withAuth(request: Request): Request {
  if (current && !request.headers.has("Authorization")) {
    request.headers.set("Authorization", `Bearer ${current.access_token}`);
  }
  return request;
}

/** fetch with the session's token and one silent refresh on 401 (uploads, downloads, SSE, buffers). */
export async function authFetch(input: string, init: RequestInit = {}): Promise<Response> {
  const send = () => {
    const headers = new Headers(init.headers);
    if (current) headers.set("Authorization", `Bearer ${current.access_token}`);
    return fetch(input, { ...init, headers });
  };
  const resp = await send();
  if (resp.status === 401 && current && (await refreshTokens())) return send();
  return resp;
}

const pending = new Map<string, Request>();

const auth: Middleware = {
  onRequest({ request, id }) {
    if (NO_AUTH.some((p) => new URL(request.url).pathname === p)) return request;
    const req = withAuth(request);
    pending.set(id, req.clone());
    return req;
  },
  async onResponse({ response, id }) {
    const original = pending.get(id);
    pending.delete(id);
    if (response.status !== 401 || !original || !current) return response;
    if (!(await refreshTokens())) return response;
    original.headers.set("Authorization", `Bearer ${current.access_token}`);
    return fetch(original);
  },
  onError({ id }) {
    pending.delete(id);
  },
};

// fetch looked up per call (not captured once), so tests and polyfills can stand in for the network.
export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "",
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(auth);

/** The data of an openapi-fetch answer, or an ApiError carrying the problem+json detail. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(result.response.status, result.error);
  }
  return result.data as T;
}

/** Turn any thrown value into the text shown to the user. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.detail;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Read a JSON-or-problem answer of authFetch. */
export async function jsonOrThrow<T>(resp: Response): Promise<T> {
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body as T;
}

/** Download an authenticated file (exports) by saving the response as a blob. */
export async function download(path: string, fallbackName: string): Promise<void> {
  const resp = await authFetch(path);
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
  const blob = await resp.blob();
  const disposition = resp.headers.get("Content-Disposition") ?? "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** multipart upload with upload progress (fetch cannot report it); resolves with the JSON answer. */
export function upload<T>(path: string, form: FormData, onProgress: (percent: number) => void): Promise<T> {
  const attempt = () =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      if (current) xhr.setRequestHeader("Authorization", `Bearer ${current.access_token}`);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100));
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        resolve({ status: xhr.status, body });
      };
      xhr.onerror = () => reject(new Error("network error"));
      xhr.send(form);
    });
  return (async () => {
    let res = await attempt();
    if (res.status === 401 && current && (await refreshTokens())) res = await attempt();
    if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, res.body);
    onProgress(100);
    return res.body as T;
  })();
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string; // the last `id:` seen (the stream's position, sent back as Last-Event-ID)
}

/** Parse a text/event-stream body into events as they arrive; `onBytes` hears every chunk (pings included). */
export async function* readSse(resp: Response, onBytes?: () => void): AsyncGenerator<SseEvent> {
  if (!resp.body) return;
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let id: string | undefined;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      onBytes?.();
      buffer += value.replace(/\r\n?/g, "\n");
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          else if (line.startsWith("id:")) id = line.slice(3).trim();
        }
        if (data.length) yield { event, data: data.join("\n"), id };
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
