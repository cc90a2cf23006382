// The console's data layer: TanStack Query over the typed openapi-fetch client (api/client.ts). A query's key is
// [path, params], so a path alone invalidates every variant of it (all filters, all pages); every failure is an
// ApiError carrying the problem+json detail, shown by <ErrorBox> the same way everywhere. See docs/console.md.
import {
  QueryCache,
  QueryClient,
  useMutation,
  useQuery,
  useQueryClient,
  type QueryKey,
  type UseQueryOptions,
} from "@tanstack/react-query";
import type { ClientPathsWithMethod, MaybeOptionalInit, MethodResponse } from "openapi-fetch";
import { api, ApiError, unwrap, type paths } from "./client";

type Api = typeof api;
type Method = "get" | "post" | "put" | "patch" | "delete";
type Upper<M extends Method> = Uppercase<M>;
export type GetPath = ClientPathsWithMethod<Api, "get">;
export type PathOf<M extends Method> = ClientPathsWithMethod<Api, M>;
export type InitOf<M extends Method, P extends PathOf<M>> = MaybeOptionalInit<paths[P], M>;
export type DataOf<M extends Method, P extends PathOf<M>> = MethodResponse<Api, M, P>;
type Params = { path?: Record<string, unknown>; query?: Record<string, unknown> };

/** The cache key of GET `path` with `params`; `apiKey(path)` alone is the prefix of all of them. */
export function apiKey(path: string, params?: Params): QueryKey {
  return params ? [path, params] : [path];
}

/** Server errors and the network are worth a retry; a 4xx answer says the same thing the second time. */
function retry(failures: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status > 0 && error.status < 500) return false;
  return failures < 2;
}

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache(),
    defaultOptions: {
      // Live events (api/live.ts) invalidate what changed; a short staleTime only spares a refetch per navigation.
      queries: { staleTime: 5_000, retry, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
}

/** Call any method of the typed client and return its data or throw the ApiError (the one error path). */
export async function call<M extends Method, P extends PathOf<M>>(
  method: M,
  path: P,
  init?: InitOf<M, P>,
): Promise<DataOf<M, P>> {
  const fn = api[method.toUpperCase() as Upper<M>] as unknown as (p: string, i?: unknown) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
  return unwrap(await fn(path, init)) as DataOf<M, P>;
}

type QueryOptions<T> = Omit<UseQueryOptions<T, ApiError, T, QueryKey>, "queryKey" | "queryFn">;

/** GET `path` through the cache: `useApiQuery("/api/v1/threads", { params: { query: { limit: 100 } } })`. */
export function useApiQuery<P extends GetPath>(path: P, init?: InitOf<"get", P>, options?: QueryOptions<DataOf<"get", P>>) {
  const params = (init as { params?: Params } | undefined)?.params;
  return useQuery<DataOf<"get", P>, ApiError>({
    queryKey: apiKey(path, params),
    queryFn: ({ signal }) => call("get", path, { ...(init ?? {}), signal } as InitOf<"get", P>),
    ...options,
  });
}

/** Mark the given paths' queries stale (the mounted ones refetch now); `[path, params]` narrows to one. */
export function useInvalidate() {
  const client = useQueryClient();
  return (...keys: (string | QueryKey)[]) =>
    Promise.all(keys.map((k) => client.invalidateQueries({ queryKey: typeof k === "string" ? [k] : k }))).then(() => undefined);
}

/** A write through the typed client that invalidates `invalidates` once it succeeded. */
export function useApiMutation<M extends Exclude<Method, "get">, P extends PathOf<M>>(
  method: M,
  path: P,
  { invalidates = [] }: { invalidates?: (string | QueryKey)[] } = {},
) {
  const invalidate = useInvalidate();
  return useMutation<DataOf<M, P>, ApiError, InitOf<M, P>>({
    mutationFn: (init) => call(method, path, init),
    onSuccess: () => invalidate(...invalidates),
  });
}
