// Accounts: sign up, verify an email address (the mailed token), change one's password, and a superuser's users.
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { LangSwitch } from "../App";
import { api, unwrap } from "../api/client";
import { useSession } from "../auth/session";
import { useApiQuery, useInvalidate } from "../api/queries";
import { ActionButton, ErrorBox, Field, Show } from "../components/ui";
import { useI18n } from "../i18n";

/** A form's submit: busy while `action` runs, its error kept for an ErrorBox. */
function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, onSubmit };
}

export function RegisterPage() {
  const { t } = useI18n();
  const [form, setForm] = useState({ email: "", password: "", full_name: "", tenant_name: "" });
  const [done, setDone] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [k]: e.target.value });
  const { busy, error, onSubmit } = useSubmit(async () => {
    const body = { email: form.email, password: form.password, full_name: form.full_name, tenant_name: form.tenant_name || null };
    unwrap(await api.POST("/api/v1/auth/register", { body }));
    setDone(form.email);
  });
  return (
    <div className="login">
      {done ? (
        <div className="card" role="status">
          <h1>Atende</h1>
          <p>{t("Almost there: we sent a confirmation code to {email}.", { email: done })}</p>
          <p className="muted">{t("Open the link in that mail, or paste its code here.")}</p>
          <Link to="/verify-email">{t("Enter the code")}</Link> · <Link to="/login">{t("Log in")}</Link>
        </div>
      ) : (
        <form className="card" onSubmit={onSubmit}>
          <h1>Atende</h1>
          <p className="muted">{t("Create your account")}</p>
          <Field label={t("Full name")}>
            <input autoComplete="name" value={form.full_name} onChange={set("full_name")} />
          </Field>
          <Field label={t("Email")}>
            <input type="email" autoComplete="username" required value={form.email} onChange={set("email")} />
          </Field>
          <Field label={t("Password")}>
            <input type="password" autoComplete="new-password" required value={form.password} onChange={set("password")} />
          </Field>
          <Field label={t("Company name")} hint={t("optional: creates your company, with you as its admin")}>
            <input value={form.tenant_name} onChange={set("tenant_name")} />
          </Field>
          <ErrorBox error={error} />
          <button type="submit" className="primary" disabled={busy}>
            {t("Sign up")}
          </button>
          <p className="muted">
            {t("Already have an account?")} <Link to="/login">{t("Log in")}</Link>
          </p>
          <LangSwitch />
        </form>
      )}
    </div>
  );
}

/** The link in the verification mail lands here with ?token=; the code can also be pasted. */
export function VerifyEmailPage() {
  const { t } = useI18n();
  const { tokens, reloadMe } = useSession();
  const [params] = useSearchParams();
  const [token, setToken] = useState(params.get("token") ?? "");
  const [verified, setVerified] = useState(false);
  const { busy, error, onSubmit } = useSubmit(async () => {
    unwrap(await api.POST("/api/v1/auth/verify-email", { body: { token: token.trim() } }));
    setVerified(true);
    if (tokens) await reloadMe().catch(() => undefined);
  });
  return (
    <div className="login">
      <form className="card" onSubmit={onSubmit}>
        <h1>Atende</h1>
        <p className="muted">{t("Confirm your email address")}</p>
        {verified ? (
          <div className="state ok" role="status">
            {t("Your email address is confirmed.")} <Link to={tokens ? "/" : "/login"}>{tokens ? t("Dashboard") : t("Log in")}</Link>
          </div>
        ) : (
          <>
            <Field label={t("Confirmation code")}>
              <input required value={token} onChange={(e) => setToken(e.target.value)} autoComplete="one-time-code" />
            </Field>
            <ErrorBox error={error} />
            <button type="submit" className="primary" disabled={busy || !token.trim()}>
              {t("Confirm")}
            </button>
          </>
        )}
        <LangSwitch />
      </form>
    </div>
  );
}

/** The signed-in user's own account: whether the address is confirmed, and a password change. */
export function AccountPage() {
  const { t } = useI18n();
  const { me } = useSession();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [saved, setSaved] = useState(false);
  const { error, onSubmit } = useSubmit(async () => {
    setSaved(false);
    if (next !== repeat) throw new Error(t("The new passwords do not match."));
    unwrap(await api.POST("/api/v1/auth/password", { body: { current_password: current, new_password: next } }));
    setSaved(true);
    setCurrent("");
    setNext("");
    setRepeat("");
  });
  return (
    <section>
      <div className="page-head">
        <h2>{t("My account")}</h2>
      </div>
      <p>
        {me?.full_name ? `${me.full_name} · ` : ""}
        {me?.email}{" "}
        {me?.email_verified ? (
          <span className="badge approved">{t("email confirmed")}</span>
        ) : (
          <>
            <span className="badge pending">{t("email not confirmed")}</span>{" "}
            <ActionButton className="small" onClick={async () => unwrap(await api.POST("/api/v1/auth/verify-email/resend", {}))}>
              {t("Send the code again")}
            </ActionButton>
          </>
        )}
      </p>
      <form className="card narrow" onSubmit={onSubmit}>
        <h3>{t("Change password")}</h3>
        <Field label={t("Current password")}>
          <input type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </Field>
        <Field label={t("New password")}>
          <input type="password" autoComplete="new-password" required value={next} onChange={(e) => setNext(e.target.value)} />
        </Field>
        <Field label={t("Repeat the new password")}>
          <input type="password" autoComplete="new-password" required value={repeat} onChange={(e) => setRepeat(e.target.value)} />
        </Field>
        <ErrorBox error={error} />
        {saved && (
          <div className="state ok" role="status">
            {t("Password changed. Your other sessions have ended.")}
          </div>
        )}
        <button type="submit" className="primary">
          {t("Change password")}
        </button>
      </form>
    </section>
  );
}

/** Superusers: every account, searchable, with activate / deactivate. */
export function UsersPage() {
  const { t, fmtDate } = useI18n();
  const { me, isSuperuser } = useSession();
  const [q, setQ] = useState("");
  const [active, setActive] = useState<"" | "true" | "false">("");
  const users = useApiQuery(
    "/api/v1/users",
    { params: { query: { limit: 200, q: q || undefined, is_active: active === "" ? undefined : active === "true" } } },
    { enabled: isSuperuser, placeholderData: (previous) => previous },
  );
  const invalidate = useInvalidate();
  if (!isSuperuser) return <div className="state empty">{t("Only a platform superuser manages users.")}</div>;
  return (
    <section>
      <div className="page-head">
        <h2>{t("Users")}</h2>
      </div>
      <div className="filters">
        <input aria-label={t("Search users")} placeholder={t("Name or email…")} value={q} onChange={(e) => setQ(e.target.value)} />
        <select aria-label={t("Status")} value={active} onChange={(e) => setActive(e.target.value as typeof active)}>
          <option value="">{t("Any status")}</option>
          <option value="true">{t("active")}</option>
          <option value="false">{t("inactive")}</option>
        </select>
      </div>
      <Show loaded={users} isEmpty={(p) => p.items.length === 0} empty={t("No users match.")}>
        {(page) => (
          <table className="list users">
            <thead>
              <tr>
                <th>{t("Email")}</th>
                <th>{t("Name")}</th>
                <th>{t("Status")}</th>
                <th>{t("Last login")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {page.items.map((u) => (
                <tr key={u.id} data-email={u.email}>
                  <td data-label={t("Email")}>
                    {u.email} {u.is_superuser && <span className="badge">{t("superuser")}</span>}{" "}
                    {!u.email_verified && <span className="badge pending">{t("email not confirmed")}</span>}
                  </td>
                  <td data-label={t("Name")}>{u.full_name || "—"}</td>
                  <td data-label={t("Status")}>
                    <span className={`badge ${u.is_active ? "approved" : "rejected"}`}>{u.is_active ? t("active") : t("inactive")}</span>
                  </td>
                  <td data-label={t("Last login")}>{fmtDate(u.last_login_at)}</td>
                  <td>
                    {u.id !== me?.id && (
                      <ActionButton
                        className="small"
                        confirm={u.is_active ? t("Deactivate {email}? Their sessions end at once.", { email: u.email }) : undefined}
                        onClick={async () => {
                          unwrap(await api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: u.id } }, body: { is_active: !u.is_active } }));
                          await invalidate("/api/v1/users");
                        }}
                      >
                        {u.is_active ? t("Deactivate") : t("Activate")}
                      </ActionButton>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
    </section>
  );
}
