import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, ApiError, authFetch, readSse, unwrap, type Schemas } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { useSession } from "../auth/session";
import { ActionButton, ErrorBox, Field, Show } from "../components/ui";
import { useI18n } from "../i18n";
import { ToolsEditor } from "./AssistantTools";

type Assistant = Schemas["AssistantRead"];

export function AssistantsPage() {
  const { t } = useI18n();
  const { isAdmin } = useSession();
  const navigate = useNavigate();
  const list = useApiQuery("/api/v1/assistants", { params: { query: { limit: 200 } } });
  const invalidate = useInvalidate();
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  return (
    <section>
      <div className="page-head">
        <h2>{t("Assistants")}</h2>
      </div>
      {isAdmin && (
        <form
          className="inline-form card"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              const a = unwrap(await api.POST("/api/v1/assistants", { body: { name, instructions: "", use_knowledge: true, is_default: false, vision: false } }));
              void invalidate("/api/v1/assistants");
              navigate(`/assistants/${a.id}`);
            } catch (err) {
              setError(err);
            }
          }}
        >
          <h3>{t("New assistant")}</h3>
          <Field label={t("Name")}>
            <input required value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <button type="submit" className="primary">{t("Create")}</button>
          <ErrorBox error={error} />
        </form>
      )}
      <Show loaded={list} isEmpty={(p) => p.items.length === 0} empty={t("No assistants yet.")}>
        {(page) => (
          <ul className="cards">
            {page.items.map((a) => (
              <li key={a.id} className="card">
                <Link to={`/assistants/${a.id}`}>
                  <strong>{a.name}</strong>
                </Link>
                {a.is_default && <span className="badge">{t("default")}</span>}
                <p className="muted clamp">{a.instructions || t("No instructions yet.")}</p>
              </li>
            ))}
          </ul>
        )}
      </Show>
    </section>
  );
}

interface Turn {
  role: "user" | "assistant";
  content: string;
  streaming?: boolean;
  error?: string;
}

/** Chat with the assistant in a scratch thread; the answer streams in (SSE `delta` events). */
export function TryItPanel({ assistantId }: { assistantId: string }) {
  const { t } = useI18n();
  const [threadId, setThreadId] = useState<string | null>(null);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const end = useRef<HTMLDivElement>(null);
  // A block body on purpose: whatever an effect returns is its cleanup, and Chromium 156+ returns a Promise from
  // scrollIntoView; React would call that Promise on the next run ("destroy_ is not a function", blank page).
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "nearest" });
  }, [turns]);

  const send = async (message: string) => {
    setBusy(true);
    setError(null);
    setTurns((ts) => [...ts, { role: "user", content: message }, { role: "assistant", content: "", streaming: true }]);
    const patchLast = (fn: (turn: Turn) => Turn) => setTurns((ts) => [...ts.slice(0, -1), fn(ts[ts.length - 1])]);
    try {
      let id = threadId;
      if (!id) {
        const thread = unwrap(await api.POST("/api/v1/threads", { body: { assistant_id: assistantId, title: "Try-it" } }));
        id = thread.id;
        setThreadId(id);
      }
      const resp = await authFetch(`/api/v1/threads/${id}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ content: message }),
      });
      if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
      for await (const ev of readSse(resp)) {
        if (ev.event === "delta") {
          const { content } = JSON.parse(ev.data) as { content: string };
          patchLast((turn) => ({ ...turn, content: turn.content + content }));
        } else if (ev.event === "done") {
          const stored = JSON.parse(ev.data) as Schemas["MessageRead"] | null;
          patchLast((turn) => ({ ...turn, content: stored?.content ?? turn.content, streaming: false }));
        } else if (ev.event === "error") {
          const body = JSON.parse(ev.data) as { detail?: string };
          patchLast((turn) => ({ ...turn, streaming: false, error: body.detail ?? t("The answer broke off.") }));
        }
      }
      patchLast((turn) => ({ ...turn, streaming: false }));
    } catch (err) {
      setTurns((ts) => ts.slice(0, -1));
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="card tryit" aria-label={t("Try it")} role="region">
      <div className="page-head">
        <h3>{t("Try it")}</h3>
        {threadId && (
          <button type="button" className="small" onClick={() => { setThreadId(null); setTurns([]); }}>
            {t("New conversation")}
          </button>
        )}
      </div>
      <div className="chat-log" aria-live="polite">
        {turns.length === 0 && <p className="muted">{t("Send a message to see how the assistant answers.")}</p>}
        {turns.map((turn, i) => (
          <div key={i} className={`bubble ${turn.role}${turn.streaming ? " streaming" : ""}`} data-role={turn.role}>
            {turn.content}
            {turn.streaming && <span className="caret" aria-hidden>▍</span>}
            {turn.error && <div className="inline-error">{turn.error}</div>}
          </div>
        ))}
        <div ref={end} />
      </div>
      <ErrorBox error={error} />
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          const message = text.trim();
          if (!message || busy) return;
          setText("");
          void send(message);
        }}
      >
        <input aria-label={t("Message")} value={text} placeholder={t("Type a message…")} onChange={(e) => setText(e.target.value)} />
        <button type="submit" className="primary" disabled={busy || !text.trim()}>{t("Send")}</button>
      </form>
    </div>
  );
}

function AssistantForm({ assistant, onSaved }: { assistant: Assistant; onSaved: () => void }) {
  const { t } = useI18n();
  const { isAdmin } = useSession();
  const navigate = useNavigate();
  const [form, setForm] = useState(assistant);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const set = <K extends keyof Assistant>(k: K, v: Assistant[K]) => {
    setSaved(false);
    setForm((f) => ({ ...f, [k]: v }));
  };
  return (
    <form
      className="card form"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          unwrap(
            await api.PATCH("/api/v1/assistants/{assistant_id}", {
              params: { path: { assistant_id: assistant.id } },
              body: {
                name: form.name,
                instructions: form.instructions,
                model: form.model || null,
                temperature: form.temperature ?? null,
                use_knowledge: form.use_knowledge,
                is_default: form.is_default,
                vision: form.vision,
              },
            }),
          );
          setSaved(true);
          onSaved();
        } catch (err) {
          setError(err);
        }
      }}
    >
      <Field label={t("Name")}>
        <input required value={form.name} disabled={!isAdmin} onChange={(e) => set("name", e.target.value)} />
      </Field>
      <Field label={t("Instructions")}>
        <textarea rows={8} value={form.instructions} disabled={!isAdmin} onChange={(e) => set("instructions", e.target.value)} />
      </Field>
      <div className="grid2">
        <Field label={t("Model")} hint={t("empty: the tenant's default")}>
          <input value={form.model ?? ""} disabled={!isAdmin} onChange={(e) => set("model", e.target.value)} />
        </Field>
        <Field label={t("Temperature")}>
          <input
            type="number"
            min={0}
            max={2}
            step={0.1}
            value={form.temperature ?? ""}
            disabled={!isAdmin}
            onChange={(e) => set("temperature", e.target.value === "" ? null : Number(e.target.value))}
          />
        </Field>
      </div>
      <label className="check">
        <input type="checkbox" checked={form.use_knowledge} disabled={!isAdmin} onChange={(e) => set("use_knowledge", e.target.checked)} />
        {t("Use the knowledge base")}
      </label>
      <label className="check">
        <input type="checkbox" checked={form.is_default} disabled={!isAdmin} onChange={(e) => set("is_default", e.target.checked)} />
        {t("Default assistant")}
      </label>
      <label className="check">
        <input type="checkbox" checked={form.vision} disabled={!isAdmin} onChange={(e) => set("vision", e.target.checked)} />
        {t("Vision: the model sees customers' images")}
        <small className="muted">{t("otherwise it reads [image]; the model must accept image inputs")}</small>
      </label>
      <ErrorBox error={error} />
      {isAdmin && (
        <div className="row">
          <button type="submit" className="primary">{t("Save")}</button>
          {saved && <span className="ok" role="status">{t("Saved")}</span>}
          <span className="spacer" />
          <ActionButton
            className="danger"
            confirm={t("Delete this assistant?")}
            onClick={async () => {
              unwrap(await api.DELETE("/api/v1/assistants/{assistant_id}", { params: { path: { assistant_id: assistant.id } } }));
              navigate("/assistants");
            }}
          >
            {t("Delete")}
          </ActionButton>
        </div>
      )}
    </form>
  );
}

export function AssistantEditPage() {
  const { assistantId = "" } = useParams();
  const { t } = useI18n();
  const assistant = useApiQuery("/api/v1/assistants/{assistant_id}", { params: { path: { assistant_id: assistantId } } });
  const invalidate = useInvalidate();
  return (
    <section>
      <div className="page-head">
        <Link to="/assistants">← {t("Assistants")}</Link>
        <h2>{assistant.data?.name ?? t("Assistant")}</h2>
      </div>
      <Show loaded={assistant}>
        {(a) => (
          <div className="split">
            <div>
              <AssistantForm key={a.updated_at} assistant={a} onSaved={() => void invalidate("/api/v1/assistants", "/api/v1/assistants/{assistant_id}")} />
              <ToolsEditor assistantId={a.id} />
            </div>
            <TryItPanel assistantId={a.id} />
          </div>
        )}
      </Show>
    </section>
  );
}
