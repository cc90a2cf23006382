import { useState } from "react";
import { Link, Navigate, useLocation } from "react-router-dom";
import { LangSwitch } from "../App";
import { useSession } from "../auth/session";
import { ErrorBox, Field } from "../components/ui";
import { useI18n } from "../i18n";

export function LoginPage() {
  const { tokens, login } = useSession();
  const { t } = useI18n();
  const location = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (tokens) {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== "/login" ? from : "/"} replace />;
  }
  return (
    <div className="login">
      <form
        className="card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await login(email, password);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Atende</h1>
        <p className="muted">{t("Sign in to the admin console")}</p>
        <Field label={t("Email")}>
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label={t("Password")}>
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <ErrorBox error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t("Signing in…") : t("Log in")}
        </button>
        <p className="muted">
          {t("No account yet?")} <Link to="/register">{t("Sign up")}</Link> · <Link to="/verify-email">{t("Confirm your email address")}</Link>
        </p>
        <LangSwitch />
      </form>
    </div>
  );
}
