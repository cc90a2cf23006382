import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useQuery } from "@tanstack/react-query";
import { download, type Schemas } from "../api/client";
import { apiKey, call, useApiMutation, useApiQuery, useInvalidate } from "../api/queries";
import { useSession } from "../auth/session";
import { MessageImages } from "../components/MessageImages";
import { ActionButton, Empty, ErrorBox, Show } from "../components/ui";
import { useI18n } from "../i18n";
import { ToolMessage, type ToolMessageData } from "./AssistantTools";

type Message = Schemas["MessageRead"];
type Status = "open" | "pending" | "closed";
// Live: message.created and thread.updated events (api/live.ts) refetch the list and the open thread; no polling.

const messagesKey = (threadId: string) => apiKey("/api/v1/threads/{thread_id}/messages", { path: { thread_id: threadId } });

export function ReviewButtons({ message }: { message: Message }) {
  const { t } = useI18n();
  const { me } = useSession();
  const [correcting, setCorrecting] = useState(false);
  const [text, setText] = useState(message.corrected_content ?? message.content);
  const patch = useApiMutation("patch", "/api/v1/messages/{message_id}", {
    invalidates: [messagesKey(message.thread_id), "/api/v1/metrics"],
  });
  const review = async (review: "approved" | "rejected", corrected?: string) => {
    try {
      await patch.mutateAsync({
        params: { path: { message_id: message.id } },
        body: { validated_by: "human", review, corrected_content: corrected ?? null, operator_name: me?.full_name || me?.email || null },
      });
      setCorrecting(false);
    } catch {
      /* shown below */
    }
  };
  return (
    <div className="review">
      {message.review ? (
        <span className={`badge ${message.review}`}>
          {t(message.review)}
          {message.operator_name ? ` · ${message.operator_name}` : ""}
        </span>
      ) : (
        message.validated_by === "pending" && <span className="badge pending">{t("awaiting approval")}</span>
      )}
      <button type="button" className="small" onClick={() => void review("approved")}>{t("Approve")}</button>
      <button type="button" className="small" onClick={() => void review("rejected")}>{t("Reject")}</button>
      <button type="button" className="small" onClick={() => setCorrecting(!correcting)}>{t("Correct")}</button>
      {correcting && (
        <form
          className="composer"
          onSubmit={(e) => {
            e.preventDefault();
            void review("approved", text);
          }}
        >
          <textarea aria-label={t("Corrected answer")} value={text} onChange={(e) => setText(e.target.value)} />
          <button type="submit" className="primary small">{t("Save correction")}</button>
        </form>
      )}
      <ErrorBox error={patch.error} />
    </div>
  );
}

async function allMessages(threadId: string): Promise<Message[]> {
  const out: Message[] = [];
  let cursor: string | null | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await call("get", "/api/v1/threads/{thread_id}/messages", {
      params: { path: { thread_id: threadId }, query: { limit: 200, cursor: cursor ?? undefined, include_deleted: true } },
    });
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

/** Rename, delete (soft) and restore a thread. */
export function ThreadActions({ thread }: { thread: Schemas["ThreadRead"] }) {
  const { t } = useI18n();
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(thread.title ?? "");
  const [error, setError] = useState<unknown>(null);
  const invalidate = useInvalidate();
  const path = { params: { path: { thread_id: thread.id } } };
  const changed = () => invalidate("/api/v1/threads", apiKey("/api/v1/threads/{thread_id}", { path: { thread_id: thread.id } }));
  if (thread.deleted_at) {
    return (
      <span className="thread-actions">
        <span className="badge rejected">{t("deleted")}</span>
        <ActionButton className="small" onClick={async () => { await call("post", "/api/v1/threads/{thread_id}/restore", path); await changed(); }}>
          {t("Restore")}
        </ActionButton>
      </span>
    );
  }
  return (
    <span className="thread-actions">
      {editing ? (
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              await call("patch", "/api/v1/threads/{thread_id}", { ...path, body: { title: title.trim() || null } });
              setEditing(false);
              await changed();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <input aria-label={t("Conversation title")} value={title} maxLength={300} onChange={(e) => setTitle(e.target.value)} autoFocus />
          <button type="submit" className="primary small">{t("Save")}</button>
          <button type="button" className="small" onClick={() => setEditing(false)}>{t("Cancel")}</button>
        </form>
      ) : (
        <button type="button" className="small" onClick={() => { setTitle(thread.title ?? ""); setEditing(true); }}>
          {t("Rename")}
        </button>
      )}
      <ActionButton
        className="small danger"
        confirm={t("Delete this conversation? It can be restored later.")}
        onClick={async () => { await call("delete", "/api/v1/threads/{thread_id}", path); await changed(); }}
      >
        {t("Delete")}
      </ActionButton>
      <ErrorBox error={error} />
    </span>
  );
}

/** Live threads per sector, as chips that filter the inbox (the first chip: every sector). */
export function SectorChips({ sector, onChange }: { sector: string; onChange: (sector: string) => void }) {
  const { t, fmtNumber } = useI18n();
  // Not a list the live feed names: re-read every 10 s.
  const counts = useApiQuery("/api/v1/threads/counts", {}, { refetchInterval: 10_000 });
  const items = counts.data?.items ?? [];
  if (!items.some((c) => c.sector)) return null; // no sectors in use: nothing to filter by
  const total = items.reduce((n, c) => n + c.count, 0);
  const chip = (value: string, label: string, count: number) => (
    <button
      key={value || "all"}
      type="button"
      className={`chip ${sector === value ? "active" : ""}`}
      aria-pressed={sector === value}
      data-sector={value}
      onClick={() => onChange(value)}
    >
      {label} <span className="count">{fmtNumber(count)}</span>
    </button>
  );
  return (
    <div className="chips" role="group" aria-label={t("Sectors")}>
      {chip("", t("All sectors"), total)}
      {items.filter((c) => c.sector).map((c) => chip(c.sector as string, c.sector as string, c.count))}
    </div>
  );
}

function ThreadView({ threadId }: { threadId: string }) {
  const { t, fmtDate } = useI18n();
  const { me } = useSession();
  // A deleted thread too: it shows Restore (the live feed's key, path only, still matches this one).
  const thread = useApiQuery("/api/v1/threads/{thread_id}", { params: { path: { thread_id: threadId }, query: { include_deleted: true } } });
  const messages = useQuery({ queryKey: messagesKey(threadId), queryFn: () => allMessages(threadId) });
  const invalidate = useInvalidate();
  const saved = ["/api/v1/threads", apiKey("/api/v1/threads/{thread_id}", { path: { thread_id: threadId } })];
  const patchThread = useApiMutation("patch", "/api/v1/threads/{thread_id}", { invalidates: saved });
  const [reply, setReply] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  // The toggle shows the operator's choice at once (optimistic) until the saved thread comes back.
  const [aiChoice, setAiChoice] = useState<boolean | null>(null);
  const th = thread.data;
  return (
    <div className="thread">
      <Show loaded={thread}>
        {(th) => (
          <div className="thread-head">
            <h3>{th.title || t("Conversation")}</h3>
            <span className="badge">{th.channel}</span>
            {th.sector && <span className="badge sector">{th.sector}</span>}
            <ThreadActions thread={th} />
            {th.needs_human && <span className="badge pending">{t("needs a human")}</span>}
            <label className="check toggle">
              <input
                type="checkbox"
                aria-label={t("AI answers")}
                checked={aiChoice ?? th.ai_enabled}
                disabled={aiChoice !== null}
                onChange={async (e) => {
                  const enabled = e.target.checked;
                  setError(null);
                  setAiChoice(enabled);
                  try {
                    await patchThread.mutateAsync({ params: { path: { thread_id: threadId } }, body: { ai_enabled: enabled } });
                  } catch (err) {
                    setError(err);
                  } finally {
                    setAiChoice(null);
                  }
                }}
              />
              {(aiChoice ?? th.ai_enabled) ? t("AI on") : t("AI off (human takeover)")}
            </label>
            <select
              aria-label={t("Status")}
              value={th.status}
              onChange={async (e) => {
                try {
                  await patchThread.mutateAsync({ params: { path: { thread_id: threadId } }, body: { status: e.target.value as Status } });
                } catch (err) {
                  setError(err);
                }
              }}
            >
              <option value="open">{t("open")}</option>
              <option value="pending">{t("pending")}</option>
              <option value="closed">{t("closed")}</option>
            </select>
            <span className="exports">
              {(["json", "markdown", "pdf"] as const).map((f) => (
                <ActionButton key={f} className="small" onClick={() => download(`/api/v1/threads/${threadId}/export?format=${f}`, `thread-${threadId}.${f === "markdown" ? "md" : f}`)}>
                  {f.toUpperCase()}
                </ActionButton>
              ))}
            </span>
          </div>
        )}
      </Show>
      <ErrorBox error={error} />
      <Show loaded={messages} isEmpty={(m) => m.length === 0} empty={t("No messages yet.")}>
        {(list) => (
          <div className="chat-log" aria-live="polite">
            {list.map((m) =>
              m.role === "tool" ? (
                <ToolMessage key={m.id} message={m as ToolMessageData} />
              ) : (
                <div key={m.id} className={`bubble ${m.role}`} data-role={m.role}>
                  <div className="meta">
                    {t(m.role)} {m.operator_name && m.role === "agent" ? `· ${m.operator_name}` : ""} · {fmtDate(m.created_at)}
                  </div>
                  <div className="text">{m.corrected_content ?? m.content}</div>
                  <MessageImages attachments={m.attachments} />
                  {m.corrected_content && <div className="muted strike">{m.content}</div>}
                  {m.role === "assistant" && <ReviewButtons message={m} />}
                </div>
              ),
            )}
          </div>
        )}
      </Show>
      <form
        className="composer"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!reply.trim()) return;
          setSending(true);
          setError(null);
          try {
            await call("post", "/api/v1/threads/{thread_id}/messages", {
              params: { path: { thread_id: threadId } },
              body: { content: reply, role: "agent", operator_name: me?.full_name || me?.email || null },
            });
            setReply("");
            await invalidate(messagesKey(threadId), "/api/v1/threads");
          } catch (err) {
            setError(err);
          } finally {
            setSending(false);
          }
        }}
      >
        <textarea
          aria-label={t("Reply as agent")}
          placeholder={th?.ai_enabled ? t("Reply as agent (the AI is still on)") : t("Reply as agent")}
          value={reply}
          onChange={(e) => setReply(e.target.value)}
        />
        <button type="submit" className="primary" disabled={sending || !reply.trim()}>{t("Send reply")}</button>
      </form>
    </div>
  );
}

/** The inbox, or (`mine`) the threads the signed-in user started (`owner=me`). */
export function InboxPage({ mine = false }: { mine?: boolean }) {
  const { threadId } = useParams();
  const { t, fmtDate } = useI18n();
  const [status, setStatus] = useState<Status | "">("");
  const [channel, setChannel] = useState("");
  const [sector, setSector] = useState("");
  const [deleted, setDeleted] = useState(false);
  const [q, setQ] = useState("");
  const base = mine ? "/mine" : "/inbox";
  const threads = useApiQuery(
    "/api/v1/threads",
    {
      params: {
        query: {
          limit: 100,
          status: status || undefined,
          channel: channel || undefined,
          sector: sector || undefined,
          q: q || undefined,
          owner: mine ? "me" : undefined,
          include_deleted: deleted || undefined,
        },
      },
    },
    { placeholderData: (previous) => previous }, // typing in the search box keeps the list until the answer comes
  );
  return (
    <section className={`inbox ${threadId ? "has-thread" : ""}`}>
      <div className="inbox-list">
        <div className="page-head">
          <h2>{mine ? t("My conversations") : t("Inbox")}</h2>
        </div>
        {!mine && <SectorChips sector={sector} onChange={setSector} />}
        <div className="filters">
          <input aria-label={t("Search conversations")} placeholder={t("Search…")} value={q} onChange={(e) => setQ(e.target.value)} />
          <select aria-label={t("Status")} value={status} onChange={(e) => setStatus(e.target.value as Status | "")}>
            <option value="">{t("Any status")}</option>
            <option value="open">{t("open")}</option>
            <option value="pending">{t("pending")}</option>
            <option value="closed">{t("closed")}</option>
          </select>
          <select aria-label={t("Channel")} value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">{t("Any channel")}</option>
            <option value="telegram">Telegram</option>
            <option value="whatsapp_twilio">WhatsApp</option>
            <option value="api">API</option>
            <option value="web">Web</option>
          </select>
          <label className="check">
            <input type="checkbox" checked={deleted} onChange={(e) => setDeleted(e.target.checked)} />
            {t("Show deleted")}
          </label>
        </div>
        <Show loaded={threads} isEmpty={(p) => p.items.length === 0} empty={t("No conversations match.")}>
          {(page) => (
            <ul className="threads">
              {page.items.map((th) => (
                <li key={th.id} className={`${th.id === threadId ? "active" : ""} ${th.deleted_at ? "deleted" : ""}`}>
                  <Link to={`${base}/${th.id}`}>
                    <strong>{th.title || t("Conversation")}</strong>
                    <span className="badge">{th.channel}</span>
                    {th.sector && <span className="badge sector">{th.sector}</span>}
                    {th.deleted_at && <span className="badge rejected">{t("deleted")}</span>}
                    {!th.ai_enabled && <span className="badge pending">{t("human")}</span>}
                    {th.needs_human && <span className="badge pending">{t("needs a human")}</span>}
                    <small className="muted">{fmtDate(th.last_message_at)}</small>
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </Show>
      </div>
      <div className="inbox-thread">
        {threadId ? (
          <>
            <Link className="back" to={base}>← {mine ? t("My conversations") : t("Inbox")}</Link>
            <ThreadView key={threadId} threadId={threadId} />
          </>
        ) : (
          <Empty>{mine ? t("Conversations you started (in the try-it chat or through the API) are listed here.") : t("Choose a conversation.")}</Empty>
        )}
      </div>
    </section>
  );
}
