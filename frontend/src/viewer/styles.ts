import type { Finding } from "../api/types";
import { FINDINGS } from "../api/types";
import type { StrokeStyle, StyleKey } from "./overlay";

/** Colour per finding for abnormal glomeruli; chosen to stay distinct on PAS/PAM/MT backgrounds. */
export const FINDING_COLORS: Record<Finding, string> = {
  global_sclerosis: "#d7263d",
  segmental_sclerosis: "#f46036",
  cellular_crescent: "#c42bd6",
  fibrocellular_crescent: "#8e44ff",
  fibrous_crescent: "#5b6cff",
  endocapillary_hypercellularity: "#00b4d8",
  mesangial_hypercellularity: "#ff4fa3",
  nodular_sclerosis: "#8d5524",
  fibrinoid_necrosis: "#ff1f1f",
};

export const STATUS_COLORS = {
  normal: "#2fbf71",
  indeterminate: "#f2a900",
  not_assessable: "#9aa0a6",
} as const;

export const OVERLAY_STYLES: Record<string, StrokeStyle> = {
  normal: { color: STATUS_COLORS.normal },
  indeterminate: { color: STATUS_COLORS.indeterminate, dash: [6, 4] },
  not_assessable: { color: STATUS_COLORS.not_assessable, dash: [2, 3] },
  "finding:other": { color: "#e34a33" },
  ink: { color: "#4b5563", dash: [10, 5] },
  ...Object.fromEntries(FINDINGS.map((f) => [`finding:${f}`, { color: FINDING_COLORS[f] }])),
};

export const ALL_STYLE_KEYS: StyleKey[] = [
  "normal",
  ...FINDINGS.map((f) => `finding:${f}` as StyleKey),
  "finding:other",
  "indeterminate",
  "not_assessable",
  "ink",
];
