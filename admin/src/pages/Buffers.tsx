import { Link } from "react-router-dom";
import type { paths } from "../api/client";
import { useApiMutation, useApiQuery } from "../api/queries";
import { ActionButton, Countdown, Show } from "../components/ui";
import { useI18n } from "../i18n";

type BufferList = paths["/api/v1/buffers"]["get"]["responses"][200]["content"]["application/json"];
type Buffer = BufferList["items"][number];

function items(list: BufferList): Buffer[] {
  return list.items;
}

function contactName(c: Buffer["contact"]): string {
  return c || "—";
}

function messageTexts(m: Buffer["messages"]): string[] {
  return m.map((x) => x.content);
}

export function BuffersPage() {
  const { t, fmtDate } = useI18n();
  // Live: buffer.updated events (api/live.ts) refetch this list; the countdowns tick locally.
  const buffers = useApiQuery("/api/v1/buffers");
  const flush = useApiMutation("post", "/api/v1/buffers/{key}/flush", { invalidates: ["/api/v1/buffers"] });
  return (
    <section>
      <div className="page-head">
        <h2>{t("Live buffers")}</h2>
        <span className="muted">{t("Quick messages wait here and are answered together.")}</span>
      </div>
      <Show loaded={buffers} isEmpty={(l) => items(l).length === 0} empty={t("No messages waiting.")}>
        {(list) => (
          <ul className="cards">
            {items(list).map((b) => {
              const texts = messageTexts(b.messages);
              return (
                <li key={b.key} className="card buffer" data-key={b.key}>
                  <div className="row">
                    <strong>{contactName(b.contact)}</strong>
                    <span className="badge">{b.channel}</span>
                    <Countdown due={b.due_at} />
                  </div>
                  <p className="muted">
                    {t("{n} message(s) since {when}", { n: texts.length, when: fmtDate(b.first_at) })}
                  </p>
                  {texts.length > 0 && (
                    <ul className="plain">
                      {texts.map((x, i) => (
                        <li key={i}>“{x}”</li>
                      ))}
                    </ul>
                  )}
                  <div className="row">
                    {b.thread_id && <Link to={`/inbox/${b.thread_id}`}>{t("Open conversation")}</Link>}
                    <span className="spacer" />
                    <ActionButton
                      className="primary"
                      onClick={() => flush.mutateAsync({ params: { path: { key: b.key } } })}
                    >
                      {t("Flush now")}
                    </ActionButton>
                  </div>
                </li>
              );
            })}
          </ul>
        )}
      </Show>
    </section>
  );
}
