// Small building blocks: loading/error/empty states of a query (api/queries.ts), progress, copy, countdown.
import { useEffect, useState, type ReactNode } from "react";
import { errorText } from "../api/client";
import { useI18n } from "../i18n";

/** What <Show> renders: a TanStack Query result (api/queries.ts) or anything shaped like one. */
export interface Loadable<T> {
  data: T | undefined;
  error: unknown;
  refetch: () => unknown;
}

export function Loading() {
  const { t } = useI18n();
  return (
    <div className="state loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden /> {t("Loading…")}
    </div>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <div className="state error" role="alert">
      <strong>{t("Something went wrong")}:</strong> <span className="detail">{errorText(error)}</span>
      {onRetry && (
        <button type="button" className="link" onClick={onRetry}>
          {t("Try again")}
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

/** Loading / error / empty / content for one loaded list or object. */
export function Show<T>({
  loaded,
  empty,
  isEmpty,
  children,
}: {
  loaded: Loadable<T>;
  empty?: ReactNode;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ReactNode;
}) {
  if (loaded.data === undefined) {
    if (loaded.error) return <ErrorBox error={loaded.error} onRetry={() => void loaded.refetch()} />;
    return <Loading />;
  }
  return (
    <>
      {loaded.error ? <ErrorBox error={loaded.error} onRetry={() => void loaded.refetch()} /> : null}
      {isEmpty?.(loaded.data) && empty ? <Empty>{empty}</Empty> : children(loaded.data)}
    </>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuenow={v} aria-valuemin={0} aria-valuemax={100}>
      <div className="bar" style={{ width: `${v}%` }} />
      <span className="pct">{v}%</span>
    </div>
  );
}

export function CopyButton({ text }: { text: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          // Insecure origins have no clipboard API: select-and-copy fallback.
          const area = document.createElement("textarea");
          area.value = text;
          document.body.appendChild(area);
          area.select();
          document.execCommand?.("copy");
          area.remove();
        }
        setCopied(true);
        setTimeout(() => setCopied(false), 2000);
      }}
    >
      {copied ? t("Copied") : t("Copy")}
    </button>
  );
}

/** Seconds left until `due` (ISO), updated every 250 ms; 0 once due. */
export function useCountdown(due: string | null | undefined): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, []);
  if (!due) return 0;
  return Math.max(0, Math.ceil((new Date(due).getTime() - now) / 1000));
}

export function Countdown({ due }: { due: string | null | undefined }) {
  const { t } = useI18n();
  const left = useCountdown(due);
  return (
    <span className="countdown" data-seconds={left}>
      {left > 0 ? t("flush in {s}s", { s: left }) : t("flushing…")}
    </span>
  );
}

/** A button that runs an async action, shows it busy and reports its error next to it. */
export function ActionButton({
  onClick,
  children,
  className,
  confirm,
  disabled,
}: {
  onClick: () => Promise<unknown>;
  children: ReactNode;
  className?: string;
  confirm?: string;
  disabled?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <span className="action">
      <button
        type="button"
        className={className}
        disabled={busy || disabled}
        onClick={async () => {
          if (confirm && !window.confirm(confirm)) return;
          setBusy(true);
          setError(null);
          try {
            await onClick();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        {children}
      </button>
      {error ? <ErrorBox error={error} /> : null}
    </span>
  );
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span className="label">{label}</span>
      {children}
      {hint ? <small className="hint">{hint}</small> : null}
    </label>
  );
}
