// An assistant's tools (function calling): list, create, edit, delete, "try it"; and a tool call in a thread view.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { authFetch, jsonOrThrow } from "../api/client";
import { apiKey, useInvalidate } from "../api/queries";
import { useSession } from "../auth/session";
import { ActionButton, ErrorBox, Field, Show } from "../components/ui";
import { useI18n } from "../i18n";

export interface Tool {
  id: string;
  assistant_id: string;
  type: "http" | "builtin";
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  url: string | null;
  method: string;
  timeout_seconds: number;
  secret_name: string | null;
}

interface TestResult {
  status: string;
  result: string;
  latency_ms: number;
}

const BUILTINS = ["search_knowledge", "handover_to_human"] as const;
const EMPTY_SCHEMA = '{\n  "type": "object",\n  "properties": {}\n}';
const NAME_RULE = /^[a-zA-Z0-9_-]{1,64}$/;

const toolsPath = (assistantId: string) => `/api/v1/assistants/${assistantId}/tools`;

async function send<T>(path: string, method: string, body?: unknown): Promise<T> {
  const resp = await authFetch(path, {
    method,
    headers: body === undefined ? undefined : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 204) return undefined as T;
  return jsonOrThrow<T>(resp);
}

/** Why `text` is not a usable parameters schema (null: it is): JSON, an object, `"type": "object"`. */
export function schemaProblem(text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "Parameters must be valid JSON.";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "Parameters must be a JSON object.";
  if ((value as { type?: unknown }).type !== "object") return 'Parameters must be a JSON Schema with "type": "object".';
  return null;
}

interface Draft {
  type: "http" | "builtin";
  name: string;
  description: string;
  parameters: string;
  url: string;
  method: string;
  timeout_seconds: number;
  secret_name: string;
}

function draftOf(tool?: Tool): Draft {
  return {
    type: tool?.type ?? "http",
    name: tool?.name ?? "",
    description: tool?.description ?? "",
    parameters: tool ? JSON.stringify(tool.parameters, null, 2) : EMPTY_SCHEMA,
    url: tool?.url ?? "",
    method: tool?.method ?? "POST",
    timeout_seconds: tool?.timeout_seconds ?? 10,
    secret_name: tool?.secret_name ?? "",
  };
}

function ToolForm({ assistantId, tool, onDone }: { assistantId: string; tool?: Tool; onDone: () => void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<Draft>(draftOf(tool));
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const http = draft.type === "http";
  return (
    <form
      className="card form tool-form"
      aria-label={tool ? t("Edit tool") : t("New tool")}
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const bad = http ? schemaProblem(draft.parameters) ?? (NAME_RULE.test(draft.name) ? null : "Name: letters, digits, _ and - only (at most 64).") : null;
        setProblem(bad);
        if (bad) return;
        const body = http
          ? {
              ...(tool ? {} : { type: "http" }),
              name: draft.name,
              description: draft.description,
              parameters: JSON.parse(draft.parameters) as Record<string, unknown>,
              url: draft.url,
              method: draft.method,
              timeout_seconds: draft.timeout_seconds,
              secret_name: draft.secret_name || null,
            }
          : tool
            ? { description: draft.description }
            : { type: "builtin", name: draft.name || BUILTINS[0] };
        try {
          await send(tool ? `${toolsPath(assistantId)}/${tool.id}` : toolsPath(assistantId), tool ? "PATCH" : "POST", body);
          onDone();
        } catch (err) {
          setError(err);
        }
      }}
    >
      <h4>{tool ? t("Edit tool") : t("New tool")}</h4>
      {!tool && (
        <Field label={t("Kind")}>
          <select value={draft.type} onChange={(e) => set("type", e.target.value as Draft["type"])}>
            <option value="http">{t("HTTP endpoint")}</option>
            <option value="builtin">{t("Built-in")}</option>
          </select>
        </Field>
      )}
      {http ? (
        <>
          <Field label={t("Name")} hint={t("letters, digits, _ and -")}>
            <input required value={draft.name} onChange={(e) => set("name", e.target.value)} />
          </Field>
          <Field label={t("Description")} hint={t("tells the model when to call it")}>
            <input value={draft.description} onChange={(e) => set("description", e.target.value)} />
          </Field>
          <Field label={t("URL")}>
            <input required type="url" value={draft.url} placeholder="https://" onChange={(e) => set("url", e.target.value)} />
          </Field>
          <div className="grid2">
            <Field label={t("Method")}>
              <select value={draft.method} onChange={(e) => set("method", e.target.value)}>
                {["POST", "PUT", "PATCH"].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </Field>
            <Field label={t("Timeout (seconds)")}>
              <input type="number" min={1} max={30} step={1} value={draft.timeout_seconds} onChange={(e) => set("timeout_seconds", Number(e.target.value))} />
            </Field>
          </div>
          <Field label={t("Signing secret (name)")} hint={t("a tenant secret; the body is signed with it")}>
            <input value={draft.secret_name} onChange={(e) => set("secret_name", e.target.value)} />
          </Field>
          <Field label={t("Parameters (JSON Schema)")}>
            <textarea rows={8} className="mono" value={draft.parameters} onChange={(e) => set("parameters", e.target.value)} />
          </Field>
        </>
      ) : tool ? (
        <Field label={t("Description")}>
          <input value={draft.description} onChange={(e) => set("description", e.target.value)} />
        </Field>
      ) : (
        <Field label={t("Built-in")}>
          <select value={draft.name || BUILTINS[0]} onChange={(e) => set("name", e.target.value)}>
            {BUILTINS.map((b) => (
              <option key={b} value={b}>
                {t(b)}
              </option>
            ))}
          </select>
        </Field>
      )}
      {problem && (
        <div className="inline-error" role="alert">
          {t(problem)}
        </div>
      )}
      <ErrorBox error={error} />
      <div className="row">
        <button type="submit" className="primary">{t("Save")}</button>
        <button type="button" onClick={onDone}>{t("Cancel")}</button>
      </div>
    </form>
  );
}

function TryTool({ assistantId, tool }: { assistantId: string; tool: Tool }) {
  const { t } = useI18n();
  const [args, setArgs] = useState("{}");
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      className="tool-try"
      aria-label={t("Try the tool")}
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        setResult(null);
        let parsed: unknown;
        try {
          parsed = JSON.parse(args);
        } catch {
          setProblem("Arguments must be valid JSON.");
          return;
        }
        setProblem(null);
        try {
          setResult(await send<TestResult>(`${toolsPath(assistantId)}/${tool.id}/test`, "POST", { arguments: parsed }));
        } catch (err) {
          setError(err);
        }
      }}
    >
      <Field label={t("Arguments (JSON)")}>
        <textarea rows={3} className="mono" value={args} onChange={(e) => setArgs(e.target.value)} />
      </Field>
      <button type="submit" className="small">{t("Call it")}</button>
      {problem && (
        <div className="inline-error" role="alert">
          {t(problem)}
        </div>
      )}
      <ErrorBox error={error} />
      {result && (
        <div className={`tool-result ${result.status}`} role="status">
          <strong>{t(result.status)}</strong> · {result.latency_ms} ms
          <pre>{result.result}</pre>
        </div>
      )}
    </form>
  );
}

/** The tools editor on the assistant page. */
export function ToolsEditor({ assistantId }: { assistantId: string }) {
  const { t } = useI18n();
  const { isAdmin } = useSession();
  const key = apiKey("/api/v1/assistants/{assistant_id}/tools", { path: { assistant_id: assistantId } });
  const list = useQuery({ queryKey: key, queryFn: async () => (await send<{ items: Tool[] }>(toolsPath(assistantId), "GET")).items });
  const invalidate = useInvalidate();
  const [editing, setEditing] = useState<string | null>(null); // a tool id, "new", or null
  const [trying, setTrying] = useState<string | null>(null);
  const done = () => {
    setEditing(null);
    void invalidate(key);
  };
  return (
    <div className="card tools" role="region" aria-label={t("Tools")}>
      <div className="page-head">
        <h3>{t("Tools")}</h3>
        {isAdmin && editing === null && (
          <button type="button" className="small" onClick={() => setEditing("new")}>
            {t("Add tool")}
          </button>
        )}
      </div>
      {editing === "new" && <ToolForm assistantId={assistantId} onDone={done} />}
      <Show loaded={list} isEmpty={(items) => items.length === 0} empty={t("No tools yet: the assistant can only talk.")}>
        {(items) => (
          <ul className="tool-list">
            {items.map((tool) => (
              <li key={tool.id} data-tool={tool.name}>
                <div className="row">
                  <strong className="mono">{tool.name}</strong>
                  <span className="badge">{tool.type === "http" ? `${tool.method} ${tool.url ?? ""}` : t("Built-in")}</span>
                  {tool.secret_name && <span className="badge">{t("signed")}</span>}
                  <span className="spacer" />
                  {tool.type === "http" && isAdmin && (
                    <button type="button" className="small" onClick={() => setTrying(trying === tool.id ? null : tool.id)}>
                      {t("Try it")}
                    </button>
                  )}
                  {isAdmin && (
                    <button type="button" className="small" onClick={() => setEditing(tool.id)}>
                      {t("Edit")}
                    </button>
                  )}
                  {isAdmin && (
                    <ActionButton
                      className="small danger"
                      confirm={t("Delete this tool?")}
                      onClick={async () => {
                        await send(`${toolsPath(assistantId)}/${tool.id}`, "DELETE");
                        await invalidate(key);
                      }}
                    >
                      {t("Delete")}
                    </ActionButton>
                  )}
                </div>
                {tool.description && <p className="muted">{tool.description}</p>}
                {editing === tool.id && <ToolForm assistantId={assistantId} tool={tool} onDone={done} />}
                {trying === tool.id && <TryTool assistantId={assistantId} tool={tool} />}
              </li>
            ))}
          </ul>
        )}
      </Show>
    </div>
  );
}

export interface ToolMessageData {
  id: string;
  content: string;
  created_at: string;
  tool_name?: string | null;
  arguments?: unknown;
  result?: string | null;
  status?: string | null;
  latency_ms?: number | null;
}

/** A tool call in a thread: collapsed to one line (name, status, time); the arguments and result inside. */
export function ToolMessage({ message }: { message: ToolMessageData }) {
  const { t, fmtDate } = useI18n();
  const status = message.status ?? "started";
  return (
    <details className={`bubble tool ${status}`} data-role="tool">
      <summary>
        <span className="mono">{message.tool_name ?? t("tool")}</span> · {t(status)}
        {message.latency_ms != null ? ` · ${message.latency_ms} ms` : ""} · {fmtDate(message.created_at)}
      </summary>
      <div className="meta">{t("Arguments")}</div>
      <pre>{JSON.stringify(message.arguments ?? {}, null, 2)}</pre>
      <div className="meta">{t("Result")}</div>
      <pre>{message.result ?? message.content}</pre>
    </details>
  );
}
