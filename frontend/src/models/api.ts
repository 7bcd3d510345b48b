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
