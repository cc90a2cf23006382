// The query cache for the signed-in session: one per tab, emptied on logout and refetched on a tenant switch
// (every key is tenant-relative: "/api/v1/threads" means the current tenant's threads), fed by the live feed.
import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useSession } from "../auth/session";
import { startLive, type LiveState } from "./live";
import { makeQueryClient } from "./queries";

const LiveCtx = createContext<LiveState>("closed");

/** The live connection's state, for the topbar's indicator. */
export function useLiveState(): LiveState {
  return useContext(LiveCtx);
}

export function QueryProvider({ client, live = false, children }: { client?: QueryClient; live?: boolean; children: ReactNode }) {
  const [queryClient] = useState(() => client ?? makeQueryClient());
  const [liveState, setLiveState] = useState<LiveState>("closed");
  const { tokens } = useSession();
  const scope = tokens ? (tokens.tenant_id ?? "") : null;
  const previous = useRef(scope);
  useEffect(() => {
    if (previous.current === scope) return;
    previous.current = scope;
    if (scope === null) queryClient.clear();
    else void queryClient.resetQueries();
  }, [scope, queryClient]);
  // One connection per tenant: the feed is the token's tenant's, so a switch reconnects with the new token.
  useEffect(() => {
    if (!live || !scope) return;
    const stop = startLive(queryClient, setLiveState);
    return () => {
      stop();
      setLiveState("closed");
    };
  }, [live, scope, queryClient]);
  return (
    <QueryClientProvider client={queryClient}>
      <LiveCtx.Provider value={liveState}>{children}</LiveCtx.Provider>
    </QueryClientProvider>
  );
}
