/**
 * How long the worker took for one analysis, as the AI panel shows it. The worker stores per-stage
 * seconds in the job's `timings_s`; only stages that run one after the other are listed (instances,
 * focus and classification overlap detection on other threads, so adding them up would mislead).
 */
export const SEQUENTIAL_STAGES = ["tissue", "detection", "after_detection"] as const;
export type Stage = (typeof SEQUENTIAL_STAGES)[number];

export interface AnalysisTime {
  total: number;
  stages: { stage: Stage; seconds: number }[];
}

const seconds = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null);

export function analysisTime(timings: Record<string, unknown> | null | undefined): AnalysisTime | null {
  const total = seconds(timings?.total);
  if (total === null) return null;
  const stages = SEQUENTIAL_STAGES.flatMap((stage) => {
    const s = seconds(timings?.[stage]);
    return s === null ? [] : [{ stage, seconds: s }];
  });
  return { total, stages };
}

/** "1.7 s · tissue 0.1 s · detection 1.0 s · finishing 0.5 s" (labels from i18n). */
export function analysisTimeLabel(at: AnalysisTime, t: (key: string, opts?: Record<string, unknown>) => string): string {
  const fmt = (s: number) => (s < 10 ? s.toFixed(1) : s.toFixed(0));
  return [t("ai.timeTotal", { s: fmt(at.total) }), ...at.stages.map(({ stage, seconds: s }) => t(`ai.timeStage.${stage}`, { s: fmt(s) }))].join(" · ");
}
