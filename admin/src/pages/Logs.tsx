import { useState } from "react";
import { useApiQuery } from "../api/queries";
import { useTenantChoices } from "../auth/companies";
import { useSession } from "../auth/session";
import { Show } from "../components/ui";
import { useI18n } from "../i18n";

const SERVICES = ["", "gateway", "auth", "chat", "channels", "transcription", "search"];

export function LogsPage() {
  const { t, fmtDate } = useI18n();
  const { isSuperuser } = useSession();
  const companies = useTenantChoices(isSuperuser);
  // A superuser reads every company's entries, or one company's; a tenant admin always their own.
  const [company, setCompany] = useState("");
  const [level, setLevel] = useState<"" | "warning" | "error">("");
  const [service, setService] = useState("");
  const [hours, setHours] = useState(24);
  // `since` moves by the minute: a new cache key per render would refetch forever. Logs are not on the live feed.
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  const logs = useApiQuery(
    "/api/v1/admin/logs",
    {
      params: {
        query: {
          level: level || undefined,
          service: service || undefined,
          tenant_id: isSuperuser && company ? company : undefined,
          since: new Date(minute - hours * 3_600_000).toISOString(),
          limit: 200,
        },
      },
    },
    { refetchInterval: 10_000, placeholderData: (previous) => previous },
  );
  return (
    <section>
      <div className="page-head">
        <h2>{t("Logs")}</h2>
      </div>
      <div className="filters">
        {isSuperuser && (
          <select aria-label={t("Logs of company")} value={company} onChange={(e) => setCompany(e.target.value)}>
            <option value="">{t("All companies")}</option>
            {companies.map((c) => (
              <option key={c.id} value={c.id}>{c.name}</option>
            ))}
          </select>
        )}
        <select aria-label={t("Level")} value={level} onChange={(e) => setLevel(e.target.value as typeof level)}>
          <option value="">{t("Warnings and errors")}</option>
          <option value="warning">{t("Warnings")}</option>
          <option value="error">{t("Errors")}</option>
        </select>
        <select aria-label={t("Service")} value={service} onChange={(e) => setService(e.target.value)}>
          {SERVICES.map((s) => (
            <option key={s} value={s}>{s || t("All services")}</option>
          ))}
        </select>
        <select aria-label={t("Since")} value={hours} onChange={(e) => setHours(Number(e.target.value))}>
          <option value={1}>{t("Last hour")}</option>
          <option value={24}>{t("Last 24 hours")}</option>
          <option value={168}>{t("Last 7 days")}</option>
        </select>
      </div>
      <Show loaded={logs} isEmpty={(p) => p.items.length === 0} empty={t("No warnings or errors. All quiet.")}>
        {(page) => (
          <table className="list logs">
            <thead>
              <tr>
                <th>{t("When")}</th>
                <th>{t("Level")}</th>
                <th>{t("Service")}</th>
                {isSuperuser && <th>{t("Company")}</th>}
                <th>{t("Event")}</th>
                <th>{t("Details")}</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((l) => (
                <tr key={l.id} className={l.level}>
                  <td data-label={t("When")}>{fmtDate(l.at)}</td>
                  <td data-label={t("Level")}><span className={`badge ${l.level}`}>{t(l.level)}</span></td>
                  <td data-label={t("Service")}>{l.service}</td>
                  {isSuperuser && (
                    <td data-label={t("Company")}>
                      {l.tenant_id ? (companies.find((c) => c.id === l.tenant_id)?.name ?? l.tenant_id.slice(0, 8)) : "—"}
                    </td>
                  )}
                  <td data-label={t("Event")}>{l.event}</td>
                  <td data-label={t("Details")}><code className="wrap">{JSON.stringify(l.data)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
    </section>
  );
}
