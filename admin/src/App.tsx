import { useState } from "react";
import { BrowserRouter, Navigate, NavLink, Outlet, Route, Routes, useLocation } from "react-router-dom";
import { useLiveState } from "./api/provider";
import { useSession } from "./auth/session";
import { useI18n, type Lang } from "./i18n";
import { LoginPage } from "./pages/Login";
import { DashboardPage } from "./pages/Dashboard";
import { TenantEditPage, TenantsPage } from "./pages/Tenants";
import { MembersPage } from "./pages/Members";
import { ApiKeysPage } from "./pages/ApiKeys";
import { AssistantEditPage, AssistantsPage } from "./pages/Assistants";
import { ChannelsPage } from "./pages/Channels";
import { InboxPage } from "./pages/Inbox";
import { BuffersPage } from "./pages/Buffers";
import { TranscriptionDetailPage, TranscriptionsPage } from "./pages/Transcriptions";
import { KnowledgePage } from "./pages/Knowledge";
import { LogsPage } from "./pages/Logs";
import { ContactHistoryPage, ContactsPage } from "./pages/Contacts";
import { AccountPage, RegisterPage, UsersPage, VerifyEmailPage } from "./pages/Account";
import { useInactiveCompany, useTenantChoices } from "./auth/companies";

export function LangSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <select aria-label={t("Language")} value={lang} onChange={(e) => setLang(e.target.value as Lang)}>
      <option value="en">English</option>
      <option value="pt-BR">Português (BR)</option>
    </select>
  );
}

function TenantSwitcher() {
  const { me, tenantId, switchTenant, isSuperuser } = useSession();
  const { t } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const memberships = me?.memberships ?? [];
  // A superuser picks any company (GET /tenants lists them all); others their memberships.
  const companies = useTenantChoices(isSuperuser);
  if (!isSuperuser && memberships.length < 2) {
    return <span className="tenant-name">{memberships[0]?.tenant_name ?? ""}</span>;
  }
  const choices: { id: string; name: string; inactive: boolean }[] = isSuperuser
    ? companies.map((c) => ({ id: c.id, name: c.name, inactive: c.status === "inactive" }))
    : memberships.map((m) => ({ id: m.tenant_id, name: m.tenant_name, inactive: false }));
  return (
    <span>
      <select
        aria-label={isSuperuser ? t("Company") : t("Tenant")}
        value={tenantId ?? ""}
        onChange={async (e) => {
          setError(null);
          try {
            await switchTenant(e.target.value);
          } catch (err) {
            setError(String((err as Error).message));
          }
        }}
      >
        {!tenantId && <option value="">{t("Platform (no tenant)")}</option>}
        {choices.map((c) => (
          <option key={c.id} value={c.id}>
            {c.inactive ? `${c.name} (${t("inactive")})` : c.name}
          </option>
        ))}
        {tenantId && !choices.some((c) => c.id === tenantId) && <option value={tenantId}>{tenantId.slice(0, 8)}</option>}
      </select>
      {error && <span className="inline-error" role="alert">{error}</span>}
    </span>
  );
}

/** A superuser inside an inactive company: they see and answer as a human; the AI does not. */
export function InactiveBanner() {
  const { tenantId, isSuperuser } = useSession();
  const { t } = useI18n();
  const company = useInactiveCompany(tenantId, isSuperuser);
  if (!company) return null;
  return (
    <div className="banner inactive-banner" role="status">
      <strong>{company.name}</strong> {t("inactive: AI answers paused")}
    </div>
  );
}

/** Whether the screens are live (the events connection is open) or catching up after a drop. */
function LiveBadge() {
  const { t } = useI18n();
  const state = useLiveState();
  const label = state === "open" ? t("Live") : state === "closed" ? t("Not live") : t("Reconnecting…");
  return (
    <span className={`live ${state}`} data-live={state} title={label} role="status">
      <span className="dot" aria-hidden /> {label}
    </span>
  );
}

function Layout() {
  const { tokens, me, logout, isSuperuser, isAdmin } = useSession();
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const location = useLocation();
  if (!tokens) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  const links: [string, string, boolean][] = [
    ["/", t("Dashboard"), true],
    ["/inbox", t("Inbox"), true],
    ["/mine", t("My conversations"), true],
    ["/contacts", t("Contacts"), true],
    ["/buffers", t("Buffers"), true],
    ["/assistants", t("Assistants"), true],
    ["/channels", t("Channels"), true],
    ["/transcriptions", t("Transcriptions"), true],
    ["/knowledge", t("Knowledge"), true],
    ["/members", t("Members"), true],
    ["/api-keys", t("API keys"), isAdmin],
    ["/tenants", t("Tenants"), isSuperuser],
    ["/users", t("Users"), isSuperuser],
    ["/logs", t("Logs"), isAdmin],
  ];
  return (
    <div className={`shell ${open ? "nav-open" : ""}`}>
      <header className="topbar">
        <button type="button" className="menu" aria-label={t("Menu")} onClick={() => setOpen(!open)}>
          ☰
        </button>
        <span className="brand">Atende</span>
        <TenantSwitcher />
        <span className="spacer" />
        <LiveBadge />
        <LangSwitch />
        <NavLink className="who" to="/account" title={t("My account")}>
          {me?.email}
        </NavLink>
        <button type="button" onClick={() => void logout()}>
          {t("Log out")}
        </button>
      </header>
      <nav className="sidenav" onClick={() => setOpen(false)}>
        {links
          .filter(([, , show]) => show)
          .map(([to, label]) => (
            <NavLink key={to} to={to} end={to === "/"}>
              {label}
            </NavLink>
          ))}
      </nav>
      <main className="content">
        <InactiveBanner />
        <Outlet />
      </main>
    </div>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/register" element={<RegisterPage />} />
      <Route path="/verify-email" element={<VerifyEmailPage />} />
      <Route element={<Layout />}>
        <Route index element={<DashboardPage />} />
        <Route path="tenants" element={<TenantsPage />} />
        <Route path="tenants/:tenantId" element={<TenantEditPage />} />
        <Route path="members" element={<MembersPage />} />
        <Route path="api-keys" element={<ApiKeysPage />} />
        <Route path="assistants" element={<AssistantsPage />} />
        <Route path="assistants/:assistantId" element={<AssistantEditPage />} />
        <Route path="channels" element={<ChannelsPage />} />
        <Route path="inbox" element={<InboxPage />} />
        <Route path="inbox/:threadId" element={<InboxPage />} />
        <Route path="mine" element={<InboxPage mine />} />
        <Route path="mine/:threadId" element={<InboxPage mine />} />
        <Route path="contacts" element={<ContactsPage />} />
        <Route path="contacts/:contactId" element={<ContactHistoryPage />} />
        <Route path="account" element={<AccountPage />} />
        <Route path="users" element={<UsersPage />} />
        <Route path="buffers" element={<BuffersPage />} />
        <Route path="transcriptions" element={<TranscriptionsPage />} />
        <Route path="transcriptions/:jobId" element={<TranscriptionDetailPage />} />
        <Route path="knowledge" element={<KnowledgePage />} />
        <Route path="logs" element={<LogsPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function NotFound() {
  const { t } = useI18n();
  return <div className="state empty">{t("This page does not exist.")}</div>;
}

export function App() {
  return (
    <BrowserRouter basename="/admin">
      <AppRoutes />
    </BrowserRouter>
  );
}
