/**
 * API modules for the double check (issue 4): reports, assessment, comparison, second reads,
 * notifications and admin — all through the client generated from openapi.json.
 */
import { api, unwrap } from "./client";
import { ApiError } from "./errors";
import type { components, operations } from "./schema.gen";

type S = components["schemas"];
export type ReportIn = S["ReportIn"];
export type ReportOut = S["ReportOut"];
export type SignOut = S["SignOut"];
export type AssessmentOut = S["AssessmentOut"];
export type ComparisonOut = S["ComparisonOut"];
export type DiscrepancyOut = S["DiscrepancyOut"];
export type AlertOut = S["AlertOut"];
export type NotificationOut = S["NotificationOut"];
export type ResolutionReason = S["ResolutionReason"];
export type DiscrepancyPage = S["DiscrepancyPage"];
export type DiscrepancyRow = S["DiscrepancyRow"];
export type AdminDiscrepancyQuery = NonNullable<operations["adminListDiscrepancies"]["parameters"]["query"]>;

export interface VocabularyTerm {
  code: string;
  en: string;
  ja: string;
}
export interface Vocabulary {
  version: string;
  not_assessed: { en: string; ja: string };
  axes: Record<string, { label: { en: string; ja: string }; terms: VocabularyTerm[] }>;
}

/** 404 means "nothing yet": a value of null, not an error. */
async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

const path = (case_id: number) => ({ params: { path: { case_id } } });

export const reportsApi = {
  vocabulary: () => unwrap<Vocabulary>(api.GET("/api/reports/vocabulary") as Promise<{ data?: Vocabulary; error?: unknown; response: Response }>),
  current: (caseId: number) => orNull(unwrap<ReportOut>(api.GET("/api/cases/{case_id}/report", path(caseId)))),
  versions: (caseId: number) => unwrap<ReportOut[]>(api.GET("/api/cases/{case_id}/reports", path(caseId))),
  create: (caseId: number, body: ReportIn) => unwrap<ReportOut>(api.POST("/api/cases/{case_id}/report", { ...path(caseId), body })),
  update: (reportId: number, body: ReportIn) => unwrap<ReportOut>(api.PUT("/api/reports/{report_id}", { params: { path: { report_id: reportId } }, body })),
  sign: (reportId: number) => unwrap<SignOut>(api.POST("/api/reports/{report_id}/sign", { params: { path: { report_id: reportId } } })),
  /** Open version n+1 as a draft superseding the latest signed version (values copied unless given). */
  amend: (reportId: number, reason: string, values?: ReportIn) =>
    unwrap<ReportOut>(api.POST("/api/reports/{report_id}/amend", { params: { path: { report_id: reportId } }, body: { reason, values: values ?? null } })),
};

export const assessmentApi = {
  get: (caseId: number) => orNull(unwrap<AssessmentOut>(api.GET("/api/cases/{case_id}/assessment", path(caseId)))),
};

export const comparisonApi = {
  get: (caseId: number) => orNull(unwrap<ComparisonOut>(api.GET("/api/cases/{case_id}/comparison", path(caseId)))),
};

export const alertsApi = {
  mine: () => unwrap<AlertOut[]>(api.GET("/api/alerts", { params: { query: { scope: "mine" } } })),
  forCase: (caseId: number) => unwrap<AlertOut[]>(api.GET("/api/alerts", { params: { query: { scope: "mine" } } })).then((all) => all.filter((a) => a.case_id === caseId)),
  /** The second reader's own assessment, in the report's fields. */
  recordSecondRead: (id: number, body: ReportIn) => unwrap<AlertOut>(api.PUT("/api/alerts/{alert_id}/second-read", { params: { path: { alert_id: id } }, body })),
  acknowledge: (id: number) => unwrap<AlertOut>(api.POST("/api/alerts/{alert_id}/acknowledge", { params: { path: { alert_id: id } } })),
  resolve: (id: number, reason: ResolutionReason, note: string) =>
    unwrap<AlertOut>(api.POST("/api/alerts/{alert_id}/resolve", { params: { path: { alert_id: id } }, body: { reason, note: note || null } })),
};

export const notificationsApi = {
  list: () => unwrap<{ items: NotificationOut[]; unread: number }>(api.GET("/api/notifications", { params: { query: { unread_only: false } } })),
  markRead: (id: number) => unwrap<unknown>(api.POST("/api/notifications/{notification_id}/read", { params: { path: { notification_id: id } } })),
  markAllRead: () => unwrap<unknown>(api.POST("/api/notifications/read-all")),
};

export type AgreementStats = S["AgreementStats"];
/** Confidence intervals come back as plain arrays from the endpoint's inline schema. */
export interface ScoreAgreement {
  score: string;
  n: number;
  percent_agreement: number | null;
  percent_ci: number[] | null;
  kappa: number | null;
  kappa_ci: number[] | null;
  labels: string[];
  /** rows: first rater (AI / pathologist), columns: second (pathologist / second reader), in `labels` order */
  matrix: number[][];
}
export type AuditPage = S["AuditPage"];
export type AdminUserOut = S["AdminUserOut"];
export type ClinicalOut = S["ClinicalOut"];

export type ClinicalIn = S["ClinicalIn"];
export type OutlookOut = S["OutlookOut"];

export const clinicalApi = {
  get: (caseId: number) => orNull(unwrap<ClinicalOut>(api.GET("/api/cases/{case_id}/clinical", path(caseId)))),
  fields: () => unwrap<import("../clinical/clinical").FieldInfo[]>(api.GET("/api/clinical/fields") as Promise<{ data?: import("../clinical/clinical").FieldInfo[]; error?: unknown; response: Response }>),
  put: (caseId: number, body: ClinicalIn) => unwrap<ClinicalOut>(api.PUT("/api/cases/{case_id}/clinical", { ...path(caseId), body })),
  outlook: (caseId: number) => unwrap<OutlookOut>(api.GET("/api/cases/{case_id}/proteinuria-outlook", path(caseId))),
};

export const adminApi = {
  agreement: (since?: string, until?: string) => unwrap(api.GET("/api/admin/agreement", { params: { query: { since: since || undefined, until: until || undefined } } })),
  audit: (action?: string) => unwrap<AuditPage>(api.GET("/api/admin/audit", { params: { query: { action: action || undefined, limit: 200 } } })),
  users: () => unwrap<AdminUserOut[]>(api.GET("/api/admin/users")),
  discrepancies: (query: AdminDiscrepancyQuery) => unwrap<DiscrepancyPage>(api.GET("/api/admin/discrepancies", { params: { query } })),
  institutions: () => unwrap(api.GET("/api/admin/institutions")),
  settings: (institutionId: number) => unwrap(api.GET("/api/admin/institutions/{institution_id}/settings", { params: { path: { institution_id: institutionId } } })),
  saveSettings: (institutionId: number, body: { blinded_first_read?: boolean | null; assessment?: Record<string, unknown> | null }) =>
    unwrap(api.PUT("/api/admin/institutions/{institution_id}/settings", { params: { path: { institution_id: institutionId } }, body })),
  discrepanciesCsvUrl: (query: Record<string, string>) => `/api/admin/discrepancies.csv?${new URLSearchParams(query).toString()}`,
};
