import { lazy, Suspense, useState } from "react";
import { useApiQuery } from "../api/queries";
import { useSession } from "../auth/session";
import { Loading, Show } from "../components/ui";
import { useI18n } from "../i18n";

// recharts is the biggest dependency: its own chunk, fetched with the first dashboard.
const DashboardCharts = lazy(() => import("./DashboardCharts"));

/** The tenant's locale (its settings) for dates and numbers in charts; the console language otherwise. */
function chartLocale(tenantLocale: string | null | undefined, lang: string): string {
  try {
    return tenantLocale ? Intl.getCanonicalLocales(tenantLocale.replace("_", "-"))[0] : lang;
  } catch {
    return lang;
  }
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
  const { t, fmtNumber, lang } = useI18n();
  const { isSuperuser, tenantId } = useSession();
  const [platform, setPlatform] = useState(false);
  const [days, setDays] = useState(30);
  const from = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  // Live: message.created and thread.updated events (api/live.ts) refetch the metrics while this screen is open.
  const metrics = useApiQuery("/api/v1/metrics", { params: { query: { all: platform, date_from: from } } });
  const tenant = useApiQuery("/api/v1/tenants/{tenant_id}", { params: { path: { tenant_id: tenantId ?? "" } } }, { enabled: !!tenantId && !platform });
  const locale = chartLocale(platform ? null : tenant.data?.locale, lang);
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
              {platform && m.active_tenants !== null && m.active_tenants !== undefined && (
                <Stat label={t("Active companies")} value={fmtNumber(m.active_tenants)} />
              )}
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
            <Suspense fallback={<Loading />}>
              <DashboardCharts days={m.per_day} from={m.date_from} to={m.date_to} locale={locale} />
            </Suspense>
          </>
        )}
      </Show>
    </section>
  );
}
