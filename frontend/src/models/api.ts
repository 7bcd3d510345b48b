import { http } from "../api/client";

/**
 * Model cards (GET /api/models, /api/models/{name}). The server sends each card.json plus its CARD.md;
 * everything is optional here so a card with fewer fields still renders (the page says "—").
 */
export interface FindingMetric {
  validation?: string;
  n?: number;
  n_pos?: number;
  auc?: number | null;
  balanced_accuracy_decided?: number | null;
  indeterminate_fraction?: number | null;
  calibration?: { ece?: number | null } | null;
  kappa_literature?: { kappa?: number | null; source?: string; verified?: boolean } | null;
  kappa?: number | null;
}

export interface TrainingSource {
  what?: string;
  source?: string;
  licence?: string;
}

export interface ModelCard {
  name: string;
  version?: string;
  task?: string;
  architecture?: string;
  licence?: string;
  stains?: string[];
  classes?: string[];
  training_data?: TrainingSource[];
  thresholds?: Record<string, { t_lo?: number; t_hi?: number; rule?: string }>;
  metrics?: Record<string, FindingMetric>;
  synthetic_only?: string[];
  synthetic_cohort?: boolean;
  caveat?: string;
  card_md?: string | null;
  created?: string;
  sha256?: string;
}

type Raw = Record<string, unknown>;

/** Accept the card flat or under `card`, and CARD.md under any of the names the API may use. */
export function normaliseCard(raw: Raw): ModelCard {
  const inner = (raw.card && typeof raw.card === "object" ? raw.card : {}) as Raw;
  const merged: Raw = { ...inner, ...raw };
  delete merged.card;
  const md = merged.card_md ?? merged.card_markdown ?? merged.markdown ?? merged.card_text ?? merged.readme ?? null;
  const metrics = (merged.metrics && typeof merged.metrics === "object" && !Array.isArray(merged.metrics) ? merged.metrics : {}) as Record<string, FindingMetric>;
  return {
    ...(merged as unknown as ModelCard),
    name: String(merged.name ?? "?"),
    card_md: typeof md === "string" ? md : null,
    metrics,
    synthetic_only: Array.isArray(merged.synthetic_only) ? (merged.synthetic_only as string[]) : [],
    training_data: Array.isArray(merged.training_data) ? (merged.training_data as TrainingSource[]) : [],
  };
}

export const modelsApi = {
  list: async (): Promise<ModelCard[]> => {
    const r = await http<unknown>("GET", "/api/models");
    const items = Array.isArray(r) ? r : ((r as Raw | null)?.items ?? (r as Raw | null)?.models ?? []);
    return (items as Raw[]).map(normaliseCard);
  },
  get: async (name: string): Promise<ModelCard> => normaliseCard(await http<Raw>("GET", `/api/models/${encodeURIComponent(name)}`)),
};

/** A finding is reliable enough to alert only with κ and AUC at or above the institution's minimums. */
export function kappaOf(m: FindingMetric | undefined): number | null {
  if (!m) return null;
  const k = m.kappa ?? m.kappa_literature?.kappa;
  return typeof k === "number" ? k : null;
}
