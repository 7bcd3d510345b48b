import { api, unwrap } from "../api/client";
import type { components } from "../api/schema.gen";

/** Model cards (GET /api/models, /api/models/{name}): the shipped card.json, per-class metrics and CARD.md. */
export type ModelCardOut = components["schemas"]["ModelCardOut"];
export type ModelCardDetail = components["schemas"]["ModelCardDetail"];
export type ModelClass = components["schemas"]["ModelClass"];
export type ModelCard = ModelCardOut & Partial<Pick<ModelCardDetail, "card" | "card_md">>;

export const modelsApi = {
  list: async (): Promise<ModelCardOut[]> => (await unwrap(api.GET("/api/models"))).items,
  get: (name: string) => unwrap(api.GET("/api/models/{name}", { params: { path: { name } } })),
};

const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The scalar metrics of one class, typed (the API sends them as a loose dict). */
export function classMetrics(c: ModelClass) {
  const m = (c.metrics ?? {}) as Record<string, unknown>;
  return {
    validation: typeof m.validation === "string" ? m.validation : null,
    n: numOrNull(m.n),
    nPos: numOrNull(m.n_pos),
    auc: numOrNull(m.auc),
    kappa: numOrNull(m.kappa),
    kappaSource: typeof m.kappa_source === "string" ? m.kappa_source : null,
    indeterminate: numOrNull(m.indeterminate_fraction),
    balancedAccuracy: numOrNull(m.balanced_accuracy_decided),
  };
}

/** Whether a class clears the institution's reliability minimums (κ and AUC); unknown metrics do not. */
export function isReliable(c: ModelClass, minKappa = 0.4, minAuc = 0.8): boolean {
  const m = classMetrics(c);
  return m.kappa !== null && m.auc !== null && m.kappa >= minKappa && m.auc >= minAuc;
}

/** One detection figure of a detector card: where it was measured and its counts. */
export interface DetectionFigure {
  kind: "synthetic" | "real_stitched";
  glomeruli: number | null;
  tp: number | null;
  fp: number | null;
  fn: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
}

const rec = (v: unknown): Record<string, unknown> | null => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/**
 * The detector's held-out figures from its card: synthetic slides, and real tissue analysed by the whole
 * pipeline (the AIDPATH fields stitched back together). Shown side by side so nobody reads the synthetic F1 alone.
 */
export function detectionFigures(card: { metrics?: Record<string, unknown> | null }): DetectionFigure[] {
  const m = rec(card.metrics) ?? {};
  const out: DetectionFigure[] = [];
  const syn = rec(rec(rec(m.held_out_synthetic)?.by_stain_and_kind)?.all);
  if (syn) {
    const tp = numOrNull(syn.tp), fn = numOrNull(syn.fn);
    out.push({ kind: "synthetic", glomeruli: tp !== null && fn !== null ? tp + fn : null, tp, fp: numOrNull(syn.fp), fn,
               precision: numOrNull(syn.precision), recall: numOrNull(syn.recall), f1: numOrNull(syn.f1) });
  }
  const real = rec(rec(m.real_tissue_stitched)?.heldout);
  if (real) {
    out.push({ kind: "real_stitched", glomeruli: numOrNull(real.scorable), tp: numOrNull(real.tp), fp: numOrNull(real.fp),
               fn: numOrNull(real.fn), precision: numOrNull(real.precision), recall: numOrNull(real.recall), f1: numOrNull(real.f1) });
  }
  return out;
}
