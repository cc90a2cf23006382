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
      params: { path: { thread_id: threadId }, query: { limit: 200, cursor: cursor ?? undefined } },
    });
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

function ThreadView({ threadId }: { threadId: string }) {
  const { t, fmtDate } = useI18n();
  const thread = useApiQuery("/api/v1/threads/{thread_id}", { params: { path: { thread_id: threadId } } });
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
              body: { content: reply, role: "agent" },
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

export function InboxPage() {
  const { threadId } = useParams();
  const { t, fmtDate } = useI18n();
  const [status, setStatus] = useState<Status | "">("");
  const [channel, setChannel] = useState("");
  const [q, setQ] = useState("");
  const threads = useApiQuery(
    "/api/v1/threads",
    { params: { query: { limit: 100, status: status || undefined, channel: channel || undefined, q: q || undefined } } },
    { placeholderData: (previous) => previous }, // typing in the search box keeps the list until the answer comes
  );
  return (
    <section className={`inbox ${threadId ? "has-thread" : ""}`}>
      <div className="inbox-list">
        <div className="page-head">
          <h2>{t("Inbox")}</h2>
        </div>
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
          </select>
        </div>
        <Show loaded={threads} isEmpty={(p) => p.items.length === 0} empty={t("No conversations match.")}>
          {(page) => (
            <ul className="threads">
              {page.items.map((th) => (
                <li key={th.id} className={th.id === threadId ? "active" : ""}>
                  <Link to={`/inbox/${th.id}`}>
                    <strong>{th.title || t("Conversation")}</strong>
                    <span className="badge">{th.channel}</span>
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
            <Link className="back" to="/inbox">← {t("Inbox")}</Link>
            <ThreadView key={threadId} threadId={threadId} />
          </>
        ) : (
          <Empty>{t("Choose a conversation.")}</Empty>
        )}
      </div>
    </section>
  );
}
