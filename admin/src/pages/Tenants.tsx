import { useEffect, useState } from "react";
import { Link, Navigate, useNavigate, useParams } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { useSession } from "../auth/session";
import { ActionButton, ErrorBox, Field, Loading, Show } from "../components/ui";
import { useI18n } from "../i18n";

type Tenant = Schemas["TenantRead"];
type TenantUpdate = Schemas["TenantUpdate"];

export function TenantsPage() {
  const { t, fmtDate } = useI18n();
  const { me, tenantId } = useSession();
  const navigate = useNavigate();
  const tenants = useApiQuery("/api/v1/tenants", { params: { query: { limit: 200 } } });
  const invalidate = useInvalidate();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [error, setError] = useState<unknown>(null);
  // Decide only once /auth/me has answered: on a full page load `me` is still null for a moment, and redirecting
  // then would send a superuser's deep link to /tenants off to their own tenant.
  if (!me) return <Loading />;
  if (!me.is_superuser && tenantId) return <Navigate to={`/tenants/${tenantId}`} replace />;
  return (
    <section>
      <div className="page-head">
        <h2>{t("Tenants")}</h2>
      </div>
      <form
        className="inline-form card"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const created = unwrap(
              await api.POST("/api/v1/tenants", { body: { name, slug: slug || null } }),
            );
            void invalidate("/api/v1/tenants");
            navigate(`/tenants/${created.id}`);
          } catch (err) {
            setError(err);
          }
        }}
      >
        <h3>{t("New tenant")}</h3>
        <Field label={t("Name")}>
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label={t("Slug")} hint={t("optional; lowercase letters, digits and -")}>
          <input value={slug} onChange={(e) => setSlug(e.target.value)} />
        </Field>
        <button type="submit" className="primary">{t("Create")}</button>
        <ErrorBox error={error} />
      </form>
      <Show loaded={tenants} isEmpty={(p) => p.items.length === 0} empty={t("No tenants yet.")}>
        {(page) => (
          <table className="list">
            <thead>
              <tr>
                <th>{t("Name")}</th>
                <th>{t("Slug")}</th>
                <th>{t("Status")}</th>
                <th>{t("Created")}</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((tn) => (
                <tr key={tn.id}>
                  <td data-label={t("Name")}>
                    <Link to={`/tenants/${tn.id}`}>{tn.name}</Link>
                  </td>
                  <td data-label={t("Slug")}>{tn.slug}</td>
                  <td data-label={t("Status")}>
                    <span className={`badge ${tn.status}`}>{t(tn.status)}</span>
                  </td>
                  <td data-label={t("Created")}>{fmtDate(tn.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
    </section>
  );
}

function TenantForm({ tenant, onSaved }: { tenant: Tenant; onSaved: (t: Tenant) => void }) {
  const { t } = useI18n();
  const { isSuperuser } = useSession();
  const [form, setForm] = useState<Tenant>(tenant);
  const [sectors, setSectors] = useState(tenant.sectors.join(", "));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setForm(tenant);
  }, [tenant]);
  const set = <K extends keyof Tenant>(key: K, value: Tenant[K]) => {
    setSaved(false);
    setForm((f) => ({ ...f, [key]: value }));
  };
  return (
    <form
      className="card form"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const list = sectors.split(",").map((s) => s.trim()).filter(Boolean);
        const body: TenantUpdate = {
          name: form.name,
          status: form.status as "active" | "inactive",
          system_prompt: form.system_prompt,
          default_model: form.default_model || null,
          require_approval: form.require_approval,
          buffer_enabled: form.buffer_enabled,
          buffer_seconds: form.buffer_seconds,
          buffer_max_wait_seconds: form.buffer_max_wait_seconds,
          split_replies: form.split_replies,
          locale: form.locale,
          timezone: form.timezone,
          ...(list.length ? { sectors: list } : {}),
          ...(isSuperuser ? { llm_base_url: form.llm_base_url || null } : {}),
        };
        try {
          const updated = unwrap(
            await api.PATCH("/api/v1/tenants/{tenant_id}", { params: { path: { tenant_id: tenant.id } }, body }),
          );
          onSaved(updated);
          setSaved(true);
        } catch (err) {
          setError(err);
        }
      }}
    >
      <h3>{t("Settings")}</h3>
      <div className="grid2">
        <Field label={t("Name")}>
          <input required value={form.name} onChange={(e) => set("name", e.target.value)} />
        </Field>
        <Field label={t("Status")}>
          <select value={form.status} onChange={(e) => set("status", e.target.value)}>
            <option value="active">{t("active")}</option>
            <option value="inactive">{t("inactive")}</option>
          </select>
        </Field>
        <Field label={t("Locale")}>
          <input value={form.locale} onChange={(e) => set("locale", e.target.value)} />
        </Field>
        <Field label={t("Time zone")}>
          <input value={form.timezone} onChange={(e) => set("timezone", e.target.value)} />
        </Field>
        <Field label={t("Default model")}>
          <input value={form.default_model ?? ""} onChange={(e) => set("default_model", e.target.value)} />
        </Field>
        {isSuperuser && (
          <Field label={t("LLM base URL")}>
            <input value={form.llm_base_url ?? ""} onChange={(e) => set("llm_base_url", e.target.value)} />
          </Field>
        )}
        <Field label={t("Sectors")} hint={t("comma separated")}>
          <input value={sectors} onChange={(e) => setSectors(e.target.value)} />
        </Field>
      </div>
      <Field label={t("System prompt")}>
        <textarea rows={5} value={form.system_prompt} onChange={(e) => set("system_prompt", e.target.value)} />
      </Field>
      <fieldset>
        <legend>{t("Message buffer")}</legend>
        <label className="check">
          <input type="checkbox" checked={form.buffer_enabled} onChange={(e) => set("buffer_enabled", e.target.checked)} />
          {t("Group quick messages before answering")}
        </label>
        <div className="grid2">
          <Field label={t("Wait (seconds)")}>
            <input type="number" min={0} max={3600} value={form.buffer_seconds} onChange={(e) => set("buffer_seconds", Number(e.target.value))} />
          </Field>
          <Field label={t("Maximum wait (seconds)")}>
            <input type="number" min={0} max={86400} value={form.buffer_max_wait_seconds} onChange={(e) => set("buffer_max_wait_seconds", Number(e.target.value))} />
          </Field>
        </div>
        <label className="check">
          <input type="checkbox" checked={form.split_replies} onChange={(e) => set("split_replies", e.target.checked)} />
          {t("Split long replies")}
        </label>
        <label className="check">
          <input type="checkbox" checked={form.require_approval} onChange={(e) => set("require_approval", e.target.checked)} />
          {t("AI answers need human approval")}
        </label>
      </fieldset>
      <ErrorBox error={error} />
      <button type="submit" className="primary">{t("Save")}</button>
      {saved && <span className="ok" role="status">{t("Saved")}</span>}
    </form>
  );
}

function Secrets({ tenantId }: { tenantId: string }) {
  const { t, fmtDate } = useI18n();
  const secrets = useApiQuery("/api/v1/tenants/{tenant_id}/secrets", { params: { path: { tenant_id: tenantId } } });
  const invalidate = useInvalidate();
  const [name, setName] = useState("openai_api_key");
  const [value, setValue] = useState("");
  const [error, setError] = useState<unknown>(null);
  return (
    <div className="card">
      <h3>{t("Secrets")}</h3>
      <p className="muted">{t("Values are write-only: they are never shown again.")}</p>
      <Show loaded={secrets} isEmpty={(s) => s.length === 0} empty={t("No secrets set.")}>
        {(list) => (
          <ul className="plain">
            {list.map((s) => (
              <li key={s.name}>
                <code>{s.name}</code>{" "}
                {s.is_set ? `•••• ${s.last4 ?? ""} (${fmtDate(s.updated_at)})` : t("not set")}{" "}
                {s.is_set && (
                  <ActionButton
                    className="danger small"
                    confirm={t("Delete this secret?")}
                    onClick={async () => {
                      unwrap(await api.DELETE("/api/v1/tenants/{tenant_id}/secrets/{name}", { params: { path: { tenant_id: tenantId, name: s.name } } }));
                      await invalidate("/api/v1/tenants/{tenant_id}/secrets");
                    }}
                  >
                    {t("Delete")}
                  </ActionButton>
                )}
              </li>
            ))}
          </ul>
        )}
      </Show>
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            unwrap(
              await api.PUT("/api/v1/tenants/{tenant_id}/secrets/{name}", {
                params: { path: { tenant_id: tenantId, name } },
                body: { value },
              }),
            );
            setValue("");
            await invalidate("/api/v1/tenants/{tenant_id}/secrets");
          } catch (err) {
            setError(err);
          }
        }}
      >
        <Field label={t("Secret name")}>
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label={t("Value")}>
          <input type="password" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} />
        </Field>
        <button type="submit">{t("Set secret")}</button>
        <ErrorBox error={error} />
      </form>
    </div>
  );
}

export function TenantEditPage() {
  const { tenantId = "" } = useParams();
  const { t } = useI18n();
  const tenant = useApiQuery("/api/v1/tenants/{tenant_id}", { params: { path: { tenant_id: tenantId } } });
  const invalidate = useInvalidate();
  return (
    <section>
      <div className="page-head">
        <h2>{tenant.data?.name ?? t("Tenant")}</h2>
      </div>
      <Show loaded={tenant}>
        {(tn) => (
          <>
            <TenantForm tenant={tn} onSaved={() => void invalidate("/api/v1/tenants", "/api/v1/tenants/{tenant_id}")} />
            <Secrets tenantId={tn.id} />
          </>
        )}
      </Show>
    </section>
  );
}
