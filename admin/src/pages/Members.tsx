import { useState } from "react";
import { api, unwrap } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { useSession } from "../auth/session";
import { ActionButton, Empty, ErrorBox, Field, Show } from "../components/ui";
import { useI18n } from "../i18n";

type Role = "admin" | "agent" | "viewer";
const ROLES: Role[] = ["admin", "agent", "viewer"];

export function MembersPage() {
  const { t } = useI18n();
  const { tenantId, isAdmin } = useSession();
  const members = useApiQuery(
    "/api/v1/tenants/{tenant_id}/members",
    { params: { path: { tenant_id: tenantId ?? "" }, query: { limit: 200 } } },
    { enabled: !!tenantId },
  );
  const invalidate = useInvalidate();
  const [email, setEmail] = useState("");
  const [fullName, setFullName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [error, setError] = useState<unknown>(null);
  if (!tenantId) return <Empty>{t("Choose a tenant first.")}</Empty>;
  return (
    <section>
      <div className="page-head">
        <h2>{t("Members and roles")}</h2>
      </div>
      {isAdmin && (
        <form
          className="inline-form card"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              unwrap(
                await api.POST("/api/v1/tenants/{tenant_id}/members", {
                  params: { path: { tenant_id: tenantId } },
                  body: { email, role, full_name: fullName || null, password: password || null },
                }),
              );
              setEmail("");
              setFullName("");
              setPassword("");
              await invalidate("/api/v1/tenants/{tenant_id}/members");
            } catch (err) {
              setError(err);
            }
          }}
        >
          <h3>{t("Add member")}</h3>
          <Field label={t("Email")}>
            <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </Field>
          <Field label={t("Full name")}>
            <input value={fullName} onChange={(e) => setFullName(e.target.value)} />
          </Field>
          <Field label={t("Password")} hint={t("for a new user")}>
            <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          </Field>
          <Field label={t("Role")}>
            <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>{t(r)}</option>
              ))}
            </select>
          </Field>
          <button type="submit" className="primary">{t("Add")}</button>
          <ErrorBox error={error} />
        </form>
      )}
      <Show loaded={members} isEmpty={(p) => p.items.length === 0} empty={t("No members yet.")}>
        {(page) => (
          <table className="list">
            <thead>
              <tr>
                <th>{t("Name")}</th>
                <th>{t("Email")}</th>
                <th>{t("Role")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {page.items.map((m) => (
                <tr key={m.user_id}>
                  <td data-label={t("Name")}>{m.full_name} {!m.is_active && <span className="badge inactive">{t("inactive")}</span>}</td>
                  <td data-label={t("Email")}>{m.email}</td>
                  <td data-label={t("Role")}>
                    {isAdmin ? (
                      <select
                        aria-label={t("Role of {email}", { email: m.email })}
                        value={m.role}
                        onChange={async (e) => {
                          try {
                            unwrap(
                              await api.PATCH("/api/v1/tenants/{tenant_id}/members/{user_id}", {
                                params: { path: { tenant_id: tenantId, user_id: m.user_id } },
                                body: { role: e.target.value as Role },
                              }),
                            );
                          } catch (err) {
                            setError(err);
                          }
                          await invalidate("/api/v1/tenants/{tenant_id}/members");
                        }}
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>{t(r)}</option>
                        ))}
                      </select>
                    ) : (
                      t(m.role)
                    )}
                  </td>
                  <td>
                    {isAdmin && (
                      <ActionButton
                        className="danger small"
                        confirm={t("Remove {email} from this tenant?", { email: m.email })}
                        onClick={async () => {
                          unwrap(
                            await api.DELETE("/api/v1/tenants/{tenant_id}/members/{user_id}", {
                              params: { path: { tenant_id: tenantId, user_id: m.user_id } },
                            }),
                          );
                          await invalidate("/api/v1/tenants/{tenant_id}/members");
                        }}
                      >
                        {t("Remove")}
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
