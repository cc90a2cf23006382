import { useState } from "react";
import { Link } from "react-router-dom";
import { api, unwrap, upload, type Schemas } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { ActionButton, Empty, ErrorBox, Field, ProgressBar, Show } from "../components/ui";
import { useI18n } from "../i18n";

type Mode = "semantic" | "keyword" | "hybrid";
type Source = "messages" | "documents";

function Documents() {
  const { t, fmtDate } = useI18n();
  // Indexing is not on the live feed: re-read every 1.5 s only while a document is being processed.
  const docs = useApiQuery(
    "/api/v1/documents",
    { params: { query: { limit: 100 } } },
    { refetchInterval: (q) => (q.state.data?.items.some((d) => d.status === "processing") ? 1500 : false) },
  );
  const invalidate = useInvalidate();
  const [percent, setPercent] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <div className="card">
      <h3>{t("Documents")}</h3>
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const input = (e.target as HTMLFormElement).elements.namedItem("file") as HTMLInputElement;
          const file = input.files?.[0];
          if (!file) return;
          setError(null);
          setPercent(0);
          const form = new FormData();
          form.append("file", file);
          try {
            await upload<Schemas["DocumentRead"]>("/api/v1/documents", form, setPercent);
            input.value = "";
            await invalidate("/api/v1/documents");
          } catch (err) {
            setError(err);
          } finally {
            setTimeout(() => setPercent(null), 800);
          }
        }}
      >
        <Field label={t("Document (PDF, DOCX, TXT, MD)")}>
          <input name="file" type="file" accept=".pdf,.docx,.txt,.md,text/plain,text/markdown,application/pdf" required />
        </Field>
        <button type="submit" className="primary" disabled={percent !== null}>{t("Upload")}</button>
        {percent !== null && <ProgressBar value={percent} label={t("Upload")} />}
        <ErrorBox error={error} />
      </form>
      <Show loaded={docs} isEmpty={(p) => p.items.length === 0} empty={t("No documents yet.")}>
        {(page) => (
          <ul className="plain docs">
            {page.items.map((d) => (
              <li key={d.id} data-status={d.status}>
                <div className="row">
                  <strong>{d.filename}</strong>
                  <span className={`badge ${d.status}`}>{t(d.status)}</span>
                  <span className="muted">{t("{n} chunks", { n: d.chunks })} · {fmtDate(d.created_at)}</span>
                  <span className="spacer" />
                  <ActionButton
                    className="danger small"
                    confirm={t("Delete this document?")}
                    onClick={async () => {
                      unwrap(await api.DELETE("/api/v1/documents/{document_id}", { params: { path: { document_id: d.id } } }));
                      await invalidate("/api/v1/documents");
                    }}
                  >
                    {t("Delete")}
                  </ActionButton>
                </div>
                {d.status === "processing" && <ProgressBar value={d.progress} label={t("Indexing progress")} />}
                {d.error && <div className="inline-error">{d.error}</div>}
              </li>
            ))}
          </ul>
        )}
      </Show>
    </div>
  );
}

export function SearchPanel() {
  const { t, fmtNumber } = useI18n();
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState<Mode>("hybrid");
  const [sources, setSources] = useState<Source[]>(["documents", "messages"]);
  const [answer, setAnswer] = useState<Schemas["SearchAnswer"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="card">
      <h3>{t("Search")}</h3>
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            setAnswer(unwrap(await api.POST("/api/v1/search", { body: { query, mode, sources, limit: 10 } })));
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label={t("Query")}>
          <input type="search" required value={query} onChange={(e) => setQuery(e.target.value)} />
        </Field>
        <Field label={t("Mode")}>
          <select value={mode} onChange={(e) => setMode(e.target.value as Mode)}>
            <option value="hybrid">{t("hybrid")}</option>
            <option value="semantic">{t("semantic")}</option>
            <option value="keyword">{t("keyword")}</option>
          </select>
        </Field>
        <fieldset className="scopes">
          <legend>{t("Sources")}</legend>
          {(["documents", "messages"] as Source[]).map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                checked={sources.includes(s)}
                onChange={(e) => setSources(e.target.checked ? [...sources, s] : sources.filter((x) => x !== s))}
              />
              {t(s)}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={busy || sources.length === 0}>{t("Search")}</button>
      </form>
      <ErrorBox error={error} />
      {answer &&
        (answer.results.length === 0 ? (
          <Empty>{t("Nothing found.")}</Empty>
        ) : (
          <>
            <p className="muted">{t("{n} results in {ms} ms", { n: answer.results.length, ms: fmtNumber(answer.took_ms, 1) })}</p>
            <ol className="results">
              {answer.results.map((r) => (
                <li key={`${r.source}-${r.id}`} className="result">
                  <div className="row">
                    <span className="badge">{t(r.source)}</span>
                    <span className="score" title={t("score")}>{fmtNumber(r.score, 3)}</span>
                    {r.similarity !== null && r.similarity !== undefined && (
                      <span className="muted">{t("similarity")} {fmtNumber(r.similarity, 3)}</span>
                    )}
                    {r.keyword_rank !== null && r.keyword_rank !== undefined && (
                      <span className="muted">{t("keyword rank")} {fmtNumber(r.keyword_rank, 3)}</span>
                    )}
                    {r.thread_id && <Link to={`/inbox/${r.thread_id}`}>{t("Open conversation")}</Link>}
                  </div>
                  <p className="snippet">{r.text}</p>
                </li>
              ))}
            </ol>
          </>
        ))}
    </div>
  );
}

export function KnowledgePage() {
  const { t } = useI18n();
  return (
    <section>
      <div className="page-head">
        <h2>{t("Knowledge")}</h2>
      </div>
      <div className="split">
        <Documents />
        <SearchPanel />
      </div>
    </section>
  );
}
