import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema.gen";
import { ApiError, apiErrorFrom, apiErrorFromResponse, networkError } from "./errors";
import { emitUnauthorized } from "./sessionEvents";

// Login and "who am I" answer 401 as a normal outcome; everything else means the session is gone.
const QUIET_401 = ["/api/auth/login", "/api/auth/me"];

function announce401(url: string, status: number): void {
  if (status !== 401) return;
  const path = new URL(url, "http://x").pathname;
  if (!QUIET_401.includes(path)) emitUnauthorized();
}

const sessionMiddleware: Middleware = {
  onResponse({ request, response }) {
    announce401(request.url, response.status);
    return undefined;
  },
};

/** The typed client generated from openapi.json (`npm run gen:api`). */
export const api = createClient<paths>({
  // An absolute base: openapi-fetch builds Request objects, which need one outside a page (tests).
  baseUrl: typeof window !== "undefined" ? window.location.origin : "",
  credentials: "same-origin",
  // Late-bound so tests (and any wrapper) can replace fetch after the client exists.
  fetch: (input: Request) => globalThis.fetch(input),
});
api.use(sessionMiddleware);

/** Unwrap an openapi-fetch result: data, or throw ApiError with the server's {error, detail}. */
export async function unwrap<T>(
  p: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response };
  try {
    r = await p;
  } catch (e) {
    throw networkError(e);
  }
  if (!r.response.ok) throw apiErrorFrom(r.response.status, r.error, r.response.statusText);
  return r.data as T;
}

/**
 * Untyped JSON request for endpoints that are planned but not yet in openapi.json.
 * Each call site names the planned contract in `types.ts`; switch to `api` once `gen:api` knows the path.
 */
export async function http<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw networkError(e);
  }
  announce401(res.url || url, res.status);
  if (!res.ok) throw await apiErrorFromResponse(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export { ApiError };
