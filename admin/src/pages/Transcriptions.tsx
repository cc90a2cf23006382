import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { download, upload, type Schemas } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { ActionButton, ErrorBox, Field, ProgressBar, Show } from "../components/ui";
import { useI18n } from "../i18n";

const FORMATS = ["srt", "vtt", "txt", "docx", "json"] as const;

// Transcription progress is not on the live feed: a list or job is re-read only while something is running.
const running = (status: string) => status === "queued" || status === "processing";

export function clock(seconds: number): string {
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(1).padStart(4, "0");
  return `${h ? `${h}:` : ""}${String(m).padStart(h ? 2 : 1, "0")}:${sec}`;
}

export function Exports({ jobId }: { jobId: string }) {
  const { t } = useI18n();
  return (
    <span className="exports" aria-label={t("Download")}>
      {FORMATS.map((f) => (
        <ActionButton key={f} className="small" onClick={() => download(`/api/v1/transcriptions/${jobId}/export?format=${f}`, `transcription-${jobId}.${f}`)}>
          {f.toUpperCase()}
        </ActionButton>
      ))}
    </span>
  );
}

function UploadForm({ onQueued }: { onQueued: () => void }) {
  const { t } = useI18n();
  const [file, setFile] = useState<File | null>(null);
  const [language, setLanguage] = useState("");
  const [speakers, setSpeakers] = useState("");
  const [percent, setPercent] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <form
      className="inline-form card"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!file) return;
        setError(null);
        setPercent(0);
        const form = new FormData();
        form.append("file", file);
        if (language) form.append("language", language);
        if (speakers) form.append("speakers_expected", speakers);
        try {
          await upload<Schemas["TranscriptionQueued"]>("/api/v1/transcriptions", form, setPercent);
          setFile(null);
          (e.target as HTMLFormElement).reset();
          onQueued();
        } catch (err) {
          setError(err);
        } finally {
          setTimeout(() => setPercent(null), 800);
        }
      }}
    >
      <h3>{t("New transcription")}</h3>
      <Field label={t("Audio or video file")}>
        <input type="file" accept="audio/*,video/*" required onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </Field>
      <Field label={t("Language")} hint={t("optional, e.g. pt or en")}>
        <input value={language} onChange={(e) => setLanguage(e.target.value)} />
      </Field>
      <Field label={t("Speakers")} hint={t("optional")}>
        <input type="number" min={1} max={10} value={speakers} onChange={(e) => setSpeakers(e.target.value)} />
      </Field>
      <button type="submit" className="primary" disabled={!file || percent !== null}>{t("Upload")}</button>
      {percent !== null && <ProgressBar value={percent} label={t("Upload")} />}
      <ErrorBox error={error} />
    </form>
  );
}

export function TranscriptionsPage() {
  const { t, fmtDate, fmtNumber } = useI18n();
  const jobs = useApiQuery(
    "/api/v1/transcriptions",
    { params: { query: { limit: 50 } } },
    { refetchInterval: (q) => (q.state.data?.items.some((j) => running(j.status)) ? 1000 : false) },
  );
  const invalidate = useInvalidate();
  return (
    <section>
      <div className="page-head">
        <h2>{t("Transcriptions")}</h2>
      </div>
      <UploadForm onQueued={() => void invalidate("/api/v1/transcriptions")} />
      <Show loaded={jobs} isEmpty={(p) => p.items.length === 0} empty={t("No transcriptions yet.")}>
        {(page) => (
          <ul className="cards">
            {page.items.map((j) => (
              <li key={j.id} className="card job" data-status={j.status}>
                <div className="row">
                  <Link to={`/transcriptions/${j.id}`}>
                    <strong>{j.filename ?? j.id.slice(0, 8)}</strong>
                  </Link>
                  <span className={`badge ${j.status}`}>{t(j.status)}</span>
                  <span className="muted">{fmtDate(j.created_at)}</span>
                </div>
                {(j.status === "queued" || j.status === "processing") && <ProgressBar value={j.progress} label={t("Transcription progress")} />}
                {j.status === "completed" && (
                  <div className="row">
                    <ProgressBar value={100} label={t("Transcription progress")} />
                    <span className="muted">{fmtNumber(j.duration_seconds, 1)} s · {j.language ?? ""}</span>
                    <Exports jobId={j.id} />
                  </div>
                )}
                {j.error && <div className="inline-error">{j.error}</div>}
              </li>
            ))}
          </ul>
        )}
      </Show>
    </section>
  );
}

export function TranscriptionDetailPage() {
  const { jobId = "" } = useParams();
  const { t, fmtNumber } = useI18n();
  const job = useApiQuery(
    "/api/v1/transcriptions/{job_id}",
    { params: { path: { job_id: jobId } } },
    { refetchInterval: (q) => (q.state.data && running(q.state.data.status) ? 2000 : false) },
  );
  return (
    <section>
      <div className="page-head">
        <Link to="/transcriptions">← {t("Transcriptions")}</Link>
        <h2>{job.data?.filename ?? t("Transcription")}</h2>
      </div>
      <Show loaded={job}>
        {(j) => (
          <>
            <div className="row">
              <span className={`badge ${j.status}`}>{t(j.status)}</span>
              <ProgressBar value={j.progress} label={t("Transcription progress")} />
              {j.status === "completed" && <Exports jobId={j.id} />}
            </div>
            <p className="muted">
              {t("Language")}: {j.language ?? "—"} · {t("Duration")}: {fmtNumber(j.duration_seconds, 1)} s · {t("Engine")}: {j.engine ?? "—"}
            </p>
            {j.error && <ErrorBox error={new Error(j.error)} />}
            {j.segments.length > 0 && (
              <table className="list segments">
                <thead>
                  <tr>
                    <th>{t("Time")}</th>
                    <th>{t("Speaker")}</th>
                    <th>{t("Text")}</th>
                  </tr>
                </thead>
                <tbody>
                  {j.segments.map((s, i) => (
                    <tr key={i}>
                      <td data-label={t("Time")}>{clock(s.start)} – {clock(s.end)}</td>
                      <td data-label={t("Speaker")}>{s.speaker ?? "—"}</td>
                      <td data-label={t("Text")}>{s.text}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Show>
    </section>
  );
}
