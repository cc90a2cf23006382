import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { QueryProvider } from "./api/provider";
import { SessionProvider } from "./auth/session";
import { I18nProvider } from "./i18n";
import "./styles.css";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <I18nProvider>
      <SessionProvider>
        <QueryProvider live>
          <App />
        </QueryProvider>
      </SessionProvider>
    </I18nProvider>
  </StrictMode>,
);
