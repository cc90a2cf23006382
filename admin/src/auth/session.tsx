// The signed-in user: tokens (api/client.ts), /auth/me, tenant switching, logout, and a silent refresh
// shortly before the access token expires.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, getTokens, onTokens, refreshTokens, setTokens, unwrap, type Schemas, type Tokens } from "../api/client";

type Me = Schemas["MeRead"];

interface Session {
  tokens: Tokens | null;
  me: Me | null;
  tenantId: string | null;
  role: string | null;
  isSuperuser: boolean;
  isAdmin: boolean; // tenant admin or superuser
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  switchTenant: (tenantId: string) => Promise<void>;
  reloadMe: () => Promise<void>;
}

const Ctx = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [tokens, setTokensState] = useState<Tokens | null>(getTokens());
  const [me, setMe] = useState<Me | null>(null);

  useEffect(() => {
    const unsubscribe = onTokens(setTokensState);
    return () => {
      unsubscribe();
    };
  }, []);

  const reloadMe = useCallback(async () => {
    setMe(unwrap(await api.GET("/api/v1/auth/me")));
  }, []);

  useEffect(() => {
    if (!tokens) {
      setMe(null);
      return;
    }
    reloadMe().catch(() => undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tokens?.access_token]);

  // Silent refresh: 60 s before expiry (or half-way for very short tokens).
  useEffect(() => {
    if (!tokens) return;
    const life = tokens.expires_at - Date.now();
    const wait = Math.max(1000, Math.min(life - 60_000, life / 2));
    const timer = setTimeout(() => void refreshTokens(), wait);
    return () => clearTimeout(timer);
  }, [tokens]);

  const login = useCallback(async (email: string, password: string) => {
    const pair = unwrap(await api.POST("/api/v1/auth/login", { body: { email, password } }));
    setTokens(pair);
  }, []);

  const logout = useCallback(async () => {
    const t = getTokens();
    setTokens(null);
    if (t) await api.POST("/api/v1/auth/logout", { body: { refresh_token: t.refresh_token } }).catch(() => undefined);
  }, []);

  const switchTenant = useCallback(async (tenantId: string) => {
    setTokens(unwrap(await api.POST("/api/v1/auth/switch-tenant", { body: { tenant_id: tenantId } })));
  }, []);

  const value = useMemo<Session>(() => {
    const tenantId = tokens?.tenant_id ?? me?.tenant_id ?? null;
    const role = tokens?.role ?? me?.role ?? null;
    const isSuperuser = !!me?.is_superuser;
    return {
      tokens,
      me,
      tenantId,
      role,
      isSuperuser,
      isAdmin: isSuperuser || role === "admin",
      login,
      logout,
      switchTenant,
      reloadMe,
    };
  }, [tokens, me, login, logout, switchTenant, reloadMe]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): Session {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("useSession outside SessionProvider");
  return ctx;
}
