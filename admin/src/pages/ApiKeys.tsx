import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { useApiQuery, useInvalidate } from "../api/queries";
import { ActionButton, CopyButton, ErrorBox, Field, Show } from "../components/ui";
import { useI18n } from "../i18n";

type Scope = "read" | "write" | "admin";
const SCOPES: Scope[] = ["read", "write", "admin"];

/** The new key, shown once: closing this panel forgets it (the API never returns it again). */
export function NewKeyPanel({ created, onClose }: { created: Schemas["ApiKeyCreated"]; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <div className="card highlight" role="region" aria-label={t("New API key")}>
      <h3>{t("Your new key: {name}", { name: created.name })}</h3>
      <p>{t("Copy it now. It will not be shown again.")}</p>
      <div className="secret-row">
        <code className="new-key" data-testid="new-key">{created.key}</code>
        <CopyButton text={created.key} />
      </div>
      <button type="button" onClick={onClose}>{t("I saved it")}</button>
    </div>
  );
}

export function ApiKeysPage() {
  const { t, fmtDate } = useI18n();
  const keys = useApiQuery("/api/v1/api-keys", { params: { query: { limit: 200 } } });
  const invalidate = useInvalidate();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const [expires, setExpires] = useState("");
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <section>
      <div className="page-head">
        <h2>{t("API keys")}</h2>
      </div>
      {created && <NewKeyPanel created={created} onClose={() => setCreated(null)} />}
      <form
        className="inline-form card"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const key = unwrap(
              await api.POST("/api/v1/api-keys", {
                body: { name, scopes, expires_at: expires ? new Date(expires).toISOString() : null },
              }),
            );
            setCreated(key);
            setName("");
            await invalidate("/api/v1/api-keys");
          } catch (err) {
            setError(err);
          }
        }}
      >
        <h3>{t("New key")}</h3>
        <Field label={t("Name")}>
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <fieldset className="scopes">
          <legend>{t("Scopes")}</legend>
          {SCOPES.map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              {s}
            </label>
          ))}
        </fieldset>
        <Field label={t("Expires")} hint={t("optional")}>
          <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
        </Field>
        <button type="submit" className="primary">{t("Create key")}</button>
        <ErrorBox error={error} />
      </form>
      <Show loaded={keys} isEmpty={(p) => p.items.length === 0} empty={t("No API keys yet.")}>
        {(page) => (
          <table className="list">
            <thead>
              <tr>
                <th>{t("Name")}</th>
                <th>{t("Prefix")}</th>
                <th>{t("Scopes")}</th>
                <th>{t("Last used")}</th>
                <th>{t("Expires")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {page.items.map((k) => (
                <tr key={k.id} className={k.revoked_at ? "revoked" : ""}>
                  <td data-label={t("Name")}>{k.name}</td>
                  <td data-label={t("Prefix")}><code>{k.prefix}…</code></td>
                  <td data-label={t("Scopes")}>{k.scopes.join(", ")}</td>
                  <td data-label={t("Last used")}>{fmtDate(k.last_used_at)}</td>
                  <td data-label={t("Expires")}>{fmtDate(k.expires_at)}</td>
                  <td>
                    {k.revoked_at ? (
                      <span className="badge inactive">{t("revoked")}</span>
                    ) : (
                      <ActionButton
                        className="danger small"
                        confirm={t("Revoke key {name}? Clients using it stop working.", { name: k.name })}
                        onClick={async () => {
                          unwrap(await api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: k.id } } }));
                          await invalidate("/api/v1/api-keys");
                        }}
                      >
                        {t("Revoke")}
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
