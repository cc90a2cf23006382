// Customers (contacts): search and page through them; one customer's whole history across threads and channels.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useInfiniteQuery, type QueryKey } from "@tanstack/react-query";
import type { Schemas } from "../api/client";
import { apiKey, call, useApiMutation, useApiQuery } from "../api/queries";
import { ErrorBox, Show } from "../components/ui";
import { useI18n } from "../i18n";

type Contact = Schemas["ContactRead"];
type Message = Schemas["MessageRead"];
type Thread = Schemas["ThreadRead"];
const PAGE = 50;

export function contactLabel(c: Contact): string {
  return c.name || c.phone || c.email || c.external_id || c.id.slice(0, 8);
}

type CursorPage<T> = { items: T[]; next_cursor?: string | null };

/** A cursor list read page by page through the cache (key: the path and its params, so the live feed and writes
 * invalidate it like any other query); `more` reads the next page. */
function useCursorList<T>(key: QueryKey, load: (cursor: string | undefined) => Promise<CursorPage<T>>) {
  const pages = useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam }) => load(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: CursorPage<T>) => last.next_cursor ?? undefined,
  });
  const items = pages.data?.pages.flatMap((p) => p.items);
  return {
    first: { data: items, error: pages.error, refetch: pages.refetch },
    items: items ?? [],
    hasMore: pages.hasNextPage,
    more: () => pages.fetchNextPage(),
    error: pages.isFetchNextPageError ? pages.error : null,
  };
}

export function ContactsPage() {
  const { t, fmtDate } = useI18n();
  const [q, setQ] = useState("");
  const list = useCursorList<Contact>(apiKey("/api/v1/contacts", { query: { q } }), (cursor) =>
    call("get", "/api/v1/contacts", { params: { query: { limit: PAGE, q: q || undefined, cursor } } }),
  );
  return (
    <section>
      <div className="page-head">
        <h2>{t("Contacts")}</h2>
      </div>
      <div className="filters">
        <input aria-label={t("Search contacts")} placeholder={t("Name, phone or email…")} value={q} onChange={(e) => setQ(e.target.value)} />
      </div>
      <Show loaded={list.first} isEmpty={(items) => items.length === 0} empty={t("No customers match.")}>
        {() => (
          <>
            <table className="list contacts">
              <thead>
                <tr>
                  <th>{t("Name")}</th>
                  <th>{t("Channel")}</th>
                  <th>{t("Phone")}</th>
                  <th>{t("Email")}</th>
                  <th>{t("Last seen")}</th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((c) => (
                  <tr key={c.id}>
                    <td data-label={t("Name")}>
                      <Link to={`/contacts/${c.id}`}>{contactLabel(c)}</Link>
                    </td>
                    <td data-label={t("Channel")}><span className="badge">{c.channel}</span></td>
                    <td data-label={t("Phone")}>{c.phone ?? "—"}</td>
                    <td data-label={t("Email")}>{c.email ?? "—"}</td>
                    <td data-label={t("Last seen")}>{fmtDate(c.last_seen_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <ErrorBox error={list.error} />
            {list.hasMore && (
              <button type="button" onClick={() => void list.more()}>
                {t("Show more")}
              </button>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

/** One customer: who they are, their conversations, and every message across them (oldest first). */
export function ContactHistoryPage() {
  const { contactId = "" } = useParams();
  const { t, fmtDate } = useI18n();
  const contact = useApiQuery("/api/v1/contacts/{contact_id}", { params: { path: { contact_id: contactId } } });
  const threads = useApiQuery("/api/v1/threads", { params: { query: { contact_id: contactId, limit: 200 } } });
  const history = useCursorList<Message>(apiKey("/api/v1/contacts/{contact_id}/messages", { path: { contact_id: contactId } }), (cursor) =>
    call("get", "/api/v1/contacts/{contact_id}/messages", { params: { path: { contact_id: contactId }, query: { limit: 200, cursor } } }),
  );
  const byId = new Map<string, Thread>((threads.data?.items ?? []).map((th) => [th.id, th]));
  let lastThread = "";
  return (
    <section className="contact-history">
      <Link className="back" to="/contacts">← {t("Contacts")}</Link>
      <Show loaded={contact}>
        {(c) => (
          <div className="page-head">
            <h2>{contactLabel(c)}</h2>
            <span className="badge">{c.channel}</span>
            {c.phone && <span className="muted">{c.phone}</span>}
            {c.email && <span className="muted">{c.email}</span>}
          </div>
        )}
      </Show>
      <MergeWith contactId={contactId} />
      <h3>{t("Conversations")}</h3>
      <Show loaded={threads} isEmpty={(page) => page.items.length === 0} empty={t("No conversations yet.")}>
        {(page) => (
          <ul className="threads compact">
            {page.items.map((th) => (
              <li key={th.id}>
                <Link to={`/inbox/${th.id}`}>
                  <strong>{th.title || t("Conversation")}</strong> <span className="badge">{th.channel}</span>{" "}
                  <small className="muted">{fmtDate(th.last_message_at)}</small>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </Show>
      <h3>{t("Whole history")}</h3>
      <Show loaded={history.first} isEmpty={(items) => items.length === 0} empty={t("No messages yet.")}>
        {() => (
          <div className="chat-log" aria-label={t("Whole history")}>
            {history.items.map((m) => {
              const th = byId.get(m.thread_id);
              const divider = m.thread_id !== lastThread;
              lastThread = m.thread_id;
              return (
                <div key={m.id}>
                  {divider && (
                    <div className="thread-divider" data-thread={m.thread_id}>
                      <Link to={`/inbox/${m.thread_id}`}>{th?.title || t("Conversation")}</Link>
                      {th && <span className="badge">{th.channel}</span>}
                    </div>
                  )}
                  <div className={`bubble ${m.role}`} data-role={m.role}>
                    <div className="meta">
                      {t(m.role)} · {fmtDate(m.created_at)}
                    </div>
                    <div className="text">{m.corrected_content ?? m.content}</div>
                  </div>
                </div>
              );
            })}
          </div>
        )}
      </Show>
      <ErrorBox error={history.error} />
      {history.hasMore && (
        <button type="button" onClick={() => void history.more()}>
          {t("Show more")}
        </button>
      )}
    </section>
  );
}

/** "Merge with…": pick another customer (the same person on another channel) and confirm; their channels,
 * conversations and messages join this contact and the other one goes away. */
export function MergeWith({ contactId }: { contactId: string }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState("");
  const [chosen, setChosen] = useState<Contact | null>(null);
  const found = useApiQuery("/api/v1/contacts", { params: { query: { q: q || undefined, limit: 10 } } }, { enabled: open });
  const merge = useApiMutation("post", "/api/v1/contacts/{contact_id}/merge", {
    invalidates: ["/api/v1/contacts", "/api/v1/contacts/{contact_id}", "/api/v1/contacts/{contact_id}/messages", "/api/v1/threads"],
  });
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        {t("Merge with…")}
      </button>
    );
  }
  const candidates = (found.data?.items ?? []).filter((c) => c.id !== contactId);
  const close = () => {
    setOpen(false);
    setChosen(null);
    setQ("");
  };
  return (
    <div className="merge-with" role="group" aria-label={t("Merge with…")}>
      {chosen ? (
        <div className="confirm">
          <p>{t("Merge {name} into this contact? Their channels and conversations move here.", { name: contactLabel(chosen) })}</p>
          <button
            type="button"
            disabled={merge.isPending}
            onClick={() =>
              merge.mutate(
                { params: { path: { contact_id: contactId } }, body: { contact_id: chosen.id } },
                { onSuccess: () => { close(); navigate(`/contacts/${contactId}`); } },
              )
            }
          >
            {t("Confirm")}
          </button>{" "}
          <button type="button" onClick={() => setChosen(null)}>
            {t("Cancel")}
          </button>
          <ErrorBox error={merge.error} />
        </div>
      ) : (
        <>
          <input aria-label={t("Search contacts")} placeholder={t("Name, phone or email…")} value={q} onChange={(e) => setQ(e.target.value)} />
          <ul className="merge-candidates">
            {candidates.map((c) => (
              <li key={c.id}>
                <button type="button" onClick={() => setChosen(c)}>
                  {contactLabel(c)} <span className="badge">{c.channel}</span>
                </button>
              </li>
            ))}
          </ul>
          {found.data && candidates.length === 0 && <p className="muted">{t("No customers match.")}</p>}
          <button type="button" onClick={close}>
            {t("Cancel")}
          </button>
        </>
      )}
    </div>
  );
}
