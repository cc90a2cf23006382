import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { useSession } from "../auth/session";
import { Show, useLoad } from "../components/ui";
import { useI18n } from "../i18n";

type Day = Schemas["DayCount"];

/** Per-day bars (messages) with threads as a line of dots; plain SVG, no chart library. */
export function DayChart({ days, label }: { days: Day[]; label: string }) {
  const { t } = useI18n();
  if (!days.length) return <p className="muted">{t("No activity in this period.")}</p>;
  const max = Math.max(1, ...days.map((d) => d.messages));
  const w = 12;
  return (
    <svg className="chart" role="img" aria-label={label} viewBox={`0 0 ${days.length * w} 100`} preserveAspectRatio="none">
      {days.map((d, i) => {
        const h = (d.messages / max) * 95;
        const th = (d.threads / max) * 95;
        return (
          <g key={d.day}>
            <rect x={i * w + 1} y={100 - h} width={w - 2} height={h} className="bar-msg">
              <title>{`${d.day}: ${d.messages} ${t("messages")}, ${d.threads} ${t("conversations")}, ${d.contacts} ${t("contacts")}`}</title>
            </rect>
            <circle cx={i * w + w / 2} cy={100 - th} r={1.6} className="dot-threads" />
          </g>
        );
      })}
    </svg>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat">
      <div className="value">{value}</div>
      <div className="label">{label}</div>
    </div>
  );
}

export function DashboardPage() {
  const { t, fmtNumber } = useI18n();
  const { isSuperuser, tenantId } = useSession();
  const [platform, setPlatform] = useState(false);
  const [days, setDays] = useState(30);
  const metrics = useLoad(async () => {
    const from = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
    return unwrap(
      await api.GET("/api/v1/metrics", { params: { query: { all: platform, date_from: from } } }),
    );
  }, [platform, days, tenantId]);
  const secs = (s: number | null | undefined) => (s === null || s === undefined ? "—" : `${fmtNumber(s, 1)} s`);
  return (
    <section>
      <div className="page-head">
        <h2>{platform ? t("Platform dashboard") : t("Dashboard")}</h2>
        <select aria-label={t("Period")} value={days} onChange={(e) => setDays(Number(e.target.value))}>
          <option value={7}>{t("Last 7 days")}</option>
          <option value={30}>{t("Last 30 days")}</option>
          <option value={90}>{t("Last 90 days")}</option>
        </select>
        {isSuperuser && (
          <label className="check">
            <input type="checkbox" checked={platform} onChange={(e) => setPlatform(e.target.checked)} />
            {t("All tenants")}
          </label>
        )}
      </div>
      <Show loaded={metrics}>
        {(m) => (
          <>
            <div className="stats">
              <Stat label={t("Contacts")} value={fmtNumber(m.unique_contacts)} />
              <Stat label={t("Conversations")} value={fmtNumber(m.threads)} />
              <Stat label={t("AI answers")} value={fmtNumber(m.ai_answers)} />
              <Stat label={t("Human answers")} value={fmtNumber(m.human_answers)} />
              <Stat
                label={t("Approval rate")}
                value={m.approval.approval_rate === null || m.approval.approval_rate === undefined ? "—" : `${fmtNumber(m.approval.approval_rate * 100, 1)}%`}
              />
              <Stat label={t("First response (median)")} value={secs(m.first_response_median_seconds)} />
              <Stat label={t("First response (p90)")} value={secs(m.first_response_p90_seconds)} />
              <Stat label={t("Tokens")} value={fmtNumber(m.tokens.tokens_in + m.tokens.tokens_out)} />
            </div>
            <h3>{t("Messages per day")}</h3>
            <DayChart days={m.per_day} label={t("Messages per day")} />
            <p className="legend muted">
              <span className="swatch msg" /> {t("messages")} <span className="swatch threads" /> {t("conversations")}
            </p>
          </>
        )}
      </Show>
    </section>
  );
}
