import { http } from "./client";
import type { CaseDetail, CaseList, CaseSummary } from "./types";

export interface CaseQuery {
  q?: string;
  state?: string;
  from?: string;
  to?: string;
}

function qs(params: Record<string, string | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : "";
}

/** The backend may answer a bare list or a page {items, total}; the UI always sees a page. */
function asPage(data: CaseList | CaseSummary[]): CaseList {
  return Array.isArray(data) ? { items: data, total: data.length } : data;
}

export const casesApi = {
  list: async (query: CaseQuery) =>
    asPage(await http<CaseList | CaseSummary[]>("GET", `/api/cases${qs({ q: query.q, state: query.state, created_from: query.from ? `${query.from}T00:00:00` : undefined, created_to: query.to ? `${query.to}T23:59:59` : undefined })}`)),
  get: (id: number) => http<CaseDetail>("GET", `/api/cases/${id}`),
  /** The server assigns the pseudonymous case number; nothing identifying is typed in. */
  create: () => http<CaseSummary>("POST", "/api/cases"),
};
