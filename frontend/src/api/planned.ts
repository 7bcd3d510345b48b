/**
 * API modules for issue 4 (reports, comparison, second reads, notifications, admin). None of these
 * endpoints exists yet; pages check `useFeature(...)` first and render "not available yet" otherwise,
 * so these functions are only called once the backend offers them. No data is ever faked here.
 */
import { http } from "./client";

export interface Notification {
  id: number;
  kind: string;
  case_id?: number;
  read_at?: string | null;
  created_at: string;
}

export interface Alert {
  id: number;
  case_id: number;
  case_number?: string;
  severity: "major" | "minor" | "info" | string;
  state: "open" | "acknowledged" | "resolved" | string;
  fields?: string[];
  author?: string;
  created_at: string;
}

export type ResolutionReason = "ai_error" | "report_amended" | "original_confirmed" | "indeterminate";

export interface Discrepancy {
  id: number;
  case_id: number;
  field: string;
  ai_value: unknown;
  pathologist_value: unknown;
  severity: "major" | "minor" | "info" | string;
  evidence_glomerulus_ids?: number[];
  state?: string;
}

export const notificationsApi = {
  list: () => http<Notification[]>("GET", "/api/notifications"),
};

export const alertsApi = {
  mine: () => http<Alert[]>("GET", "/api/alerts?assigned=me&state=open"),
  acknowledge: (id: number) => http<Alert>("POST", `/api/alerts/${id}/acknowledge`, {}),
  resolve: (id: number, reason: ResolutionReason, note: string) => http<Alert>("POST", `/api/alerts/${id}/resolve`, { reason, note }),
};

export const reportsApi = {
  current: (caseId: number) => http<unknown>("GET", `/api/cases/${caseId}/report`),
};

export const discrepanciesApi = {
  forCase: (caseId: number) => http<Discrepancy[]>("GET", `/api/cases/${caseId}/discrepancies`),
  list: (params: URLSearchParams) => http<Discrepancy[]>("GET", `/api/discrepancies?${params.toString()}`),
  csvUrl: (params: URLSearchParams) => `/api/discrepancies.csv?${params.toString()}`,
};
