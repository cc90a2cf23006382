// The dashboard's charts (recharts, loaded on demand by Dashboard.tsx): every day of the period on a date axis
// (days without messages are zero, so one busy day is one bar among the others, not a block across the chart),
// dates in the tenant's locale, tooltips, and an empty state. Days are UTC dates, as GET /api/v1/metrics counts them.
import {
  Bar,
  BarChart,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { Schemas } from "../api/client";
import { useI18n } from "../i18n";

type Day = Schemas["DayCount"];

export interface ChartDay {
  day: string; // YYYY-MM-DD (UTC)
  messages: number;
  threads: number;
  ai: number;
  human: number;
  firstResponse: number | null;
}

/** One row per day from `from` to `to` (inclusive), zero where the API had no row. */
export function fillDays(days: Day[], from: string, to: string): ChartDay[] {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out: ChartDay[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && out.length < 400; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    const d = byDay.get(day);
    out.push({
      day,
      messages: d?.messages ?? 0,
      threads: d?.threads ?? 0,
      ai: d?.ai_answers ?? 0,
      human: d?.human_answers ?? 0,
      firstResponse: d?.first_response_median_seconds ?? null,
    });
  }
  return out;
}

const COLORS = { messages: "#2f6fed", threads: "#e08a00", ai: "#7b5cd6", human: "#1a9b50", first: "#d04a4a" };
const HEIGHT = 240;

function useFormat(locale: string) {
  const { fmtNumber } = useI18n();
  const short = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" });
  const long = new Intl.DateTimeFormat(locale, { dateStyle: "full", timeZone: "UTC" });
  const at = (day: unknown) => Date.parse(`${String(day)}T00:00:00Z`);
  return {
    tick: (day: unknown) => short.format(at(day)),
    label: (day: unknown) => long.format(at(day)),
    count: (n: unknown) => fmtNumber(Number(n)),
    seconds: (n: unknown) => `${fmtNumber(Number(n), Number(n) < 10 ? 2 : 1)} s`,
  };
}

function axes(fmt: ReturnType<typeof useFormat>, days: number, unit: "count" | "seconds" = "count") {
  return [
    <CartesianGrid key="grid" strokeDasharray="3 3" vertical={false} />,
    <XAxis key="x" dataKey="day" tickFormatter={fmt.tick} minTickGap={16} interval={days > 14 ? "preserveStartEnd" : 0} />,
    <YAxis key="y" allowDecimals={unit === "seconds"} tickFormatter={unit === "seconds" ? fmt.seconds : fmt.count} width={unit === "seconds" ? 56 : 40} />,
  ];
}

export function MessagesChart({ data, locale }: { data: ChartDay[]; locale: string }) {
  const { t } = useI18n();
  const fmt = useFormat(locale);
  return (
    <figure className="chart" data-chart="messages" aria-label={t("Messages per day")}>
      <ResponsiveContainer width="100%" height={HEIGHT}>
        <ComposedChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
          {axes(fmt, data.length)}
          <Tooltip labelFormatter={fmt.label} formatter={fmt.count} />
          <Legend />
          <Bar dataKey="messages" name={t("messages")} fill={COLORS.messages} maxBarSize={40} isAnimationActive={false} />
          <Line dataKey="threads" name={t("conversations")} stroke={COLORS.threads} dot={{ r: 3 }} isAnimationActive={false} />
        </ComposedChart>
      </ResponsiveContainer>
    </figure>
  );
}

export function AnswersChart({ data, locale }: { data: ChartDay[]; locale: string }) {
  const { t } = useI18n();
  const fmt = useFormat(locale);
  return (
    <figure className="chart" data-chart="answers" aria-label={t("AI and human answers per day")}>
      <ResponsiveContainer width="100%" height={HEIGHT}>
        <BarChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
          {axes(fmt, data.length)}
          <Tooltip labelFormatter={fmt.label} formatter={fmt.count} />
          <Legend />
          <Bar dataKey="ai" name={t("AI answers")} stackId="answers" fill={COLORS.ai} maxBarSize={40} isAnimationActive={false} />
          <Bar dataKey="human" name={t("Human answers")} stackId="answers" fill={COLORS.human} maxBarSize={40} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}

export function FirstResponseChart({ data, locale }: { data: ChartDay[]; locale: string }) {
  const { t } = useI18n();
  const fmt = useFormat(locale);
  if (!data.some((d) => d.firstResponse !== null)) return <p className="muted">{t("No answered conversations in this period.")}</p>;
  return (
    <figure className="chart" data-chart="first-response" aria-label={t("First response (median) per day")}>
      <ResponsiveContainer width="100%" height={HEIGHT}>
        <LineChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
          {axes(fmt, data.length, "seconds")}
          <Tooltip labelFormatter={fmt.label} formatter={fmt.seconds} />
          <Line
            dataKey="firstResponse"
            name={t("First response (median)")}
            stroke={COLORS.first}
            dot={{ r: 3 }}
            connectNulls
            isAnimationActive={false}
          />
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}

/** Everything the dashboard draws, in one chunk. */
export default function DashboardCharts({ days, from, to, locale }: { days: Day[]; from: string; to: string; locale: string }) {
  const { t } = useI18n();
  if (!days.length) return <p className="muted empty-chart">{t("No activity in this period.")}</p>;
  const data = fillDays(days, from, to);
  return (
    <div className="charts">
      <section>
        <h3>{t("Messages per day")}</h3>
        <MessagesChart data={data} locale={locale} />
      </section>
      <section>
        <h3>{t("AI and human answers per day")}</h3>
        <AnswersChart data={data} locale={locale} />
      </section>
      <section>
        <h3>{t("First response (median) per day")}</h3>
        <FirstResponseChart data={data} locale={locale} />
      </section>
    </div>
  );
}
