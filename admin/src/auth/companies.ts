// The companies (tenants) a superuser can pick: every one of them, not only their memberships.
import type { Schemas } from "../api/client";
import { useApiQuery } from "../api/queries";

export type Company = Schemas["TenantRead"];

/** Every company (GET /api/v1/tenants lists all of them for a superuser), by name; [] for anyone else. */
export function useTenantChoices(enabled: boolean): Company[] {
  const loaded = useApiQuery("/api/v1/tenants", { params: { query: { limit: 200 } } }, { enabled });
  return enabled ? [...(loaded.data?.items ?? [])].sort((a, b) => a.name.localeCompare(b.name)) : [];
}

/** The company a superuser is in when it is inactive (open to them only; its AI answers are paused), else undefined. */
export function useInactiveCompany(tenantId: string | null | undefined, isSuperuser: boolean): Company | undefined {
  const chosen = useTenantChoices(isSuperuser && !!tenantId).find((c) => c.id === tenantId);
  return chosen?.status === "inactive" ? chosen : undefined;
}
