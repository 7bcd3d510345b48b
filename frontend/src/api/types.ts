/**
 * Contracts of endpoints announced in the issues but not (yet) in openapi.json. Fields the backend may
 * or may not send are optional; the UI shows "—" rather than inventing a value. When `npm run gen:api`
 * picks an endpoint up, replace its type here with the generated `components["schemas"][...]`.
 */
import type { components } from "./schema.gen";

export type User = components["schemas"]["UserOut"];

export const CASE_STATES = [
  "uploaded",
  "deidentified",
  "analyzing",
  "ai_ready",
  "report_signed",
  "compared",
  "concordant",
  "discrepant",
  "second_read",
  "resolved",
] as const;
export type CaseState = (typeof CASE_STATES)[number];

export const STAINS = ["pas", "pam", "mt", "he", "azan", "other"] as const;
export type Stain = (typeof STAINS)[number];

export const FINDINGS = [
  "global_sclerosis",
  "segmental_sclerosis",
  "cellular_crescent",
  "fibrocellular_crescent",
  "fibrous_crescent",
  "endocapillary_hypercellularity",
  "mesangial_hypercellularity",
  "nodular_sclerosis",
  "fibrinoid_necrosis",
] as const;
export type Finding = (typeof FINDINGS)[number];

export const GLOM_STATUSES = ["normal", "abnormal", "indeterminate", "not_assessable"] as const;
export type GlomStatus = (typeof GLOM_STATUSES)[number];

export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface SlideSummary {
  id: number;
  case_id?: number;
  display_name?: string;
  stain?: string;
  status?: string;
  width?: number;
  height?: number;
  mpp_x?: number | null;
  mpp_y?: number | null;
  objective_power?: number | null;
  format?: string;
  vendor?: string | null;
  bytes?: number;
  created_at?: string;
  latest_job?: Job | null;
}

/** The worklist's AI column: the latest analysis job over the case's slides ("none" when never analysed). */
export interface AiStateInfo {
  state: "none" | "queued" | "running" | "succeeded" | "failed" | "cancelled" | string;
  /** 0–1 of the latest job; null when there is none. */
  progress?: number | null;
}

/** The case's unresolved second-read alert (open or acknowledged). */
export interface OpenAlertInfo {
  id: number;
  state: string;
  assignee_id?: number | null;
  assignee_name?: string | null;
}

/** A worklist row (GET /api/cases); the worklist fields are optional so an older backend still renders. */
export interface CaseSummary {
  id: number;
  number: string;
  state: string;
  institution_id?: number;
  institution_name?: string | null;
  stains?: string[];
  slide_count?: number;
  ai_state?: AiStateInfo | null;
  major_discrepancies?: number | null;
  open_alert?: OpenAlertInfo | null;
  created_at?: string;
  updated_at?: string;
}

export interface CaseDetail extends CaseSummary {
  slides?: SlideSummary[];
}

export interface CaseList {
  items: CaseSummary[];
  total?: number;
}

export interface Job {
  id: number;
  slide_id?: number;
  state: JobState | string;
  stage?: string | null;
  progress?: number | null;
  error?: string | null;
  model_versions?: Record<string, string>;
  /** Seconds per pipeline stage and `total`, as the worker measured them (frontend/src/analysis/timings.ts). */
  timings_s?: Record<string, number>;
  /** The worker's summary (n_glomeruli, slide facts, pipeline `stats`); `{hidden: …}` while blinded. */
  result?: Record<string, unknown>;
  created_at?: string;
  finished_at?: string | null;
}

export interface Glomerulus {
  id: number;
  index?: number;
  polygon: [number, number][];
  bbox: [number, number, number, number] | { x0: number; y0: number; x1: number; y1: number };
  area_um2?: number | null;
  detection_score: number;
  findings: Partial<Record<Finding, number>> & Record<string, number>;
  status: GlomStatus;
  flags?: string[];
  /** Per finding: "present" | "absent" | "indeterminate", when the backend computes it with the model thresholds. */
  finding_states?: Record<string, string>;
  main_finding?: string | null;
}

export interface UploadResult {
  status: "ready" | "rejected" | "duplicate" | "processing" | "pending" | string;
  slide_id?: number | null;
  error?: string | null;
  detail?: string | null;
}
