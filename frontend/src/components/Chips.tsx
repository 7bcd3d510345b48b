import { useTranslation } from "react-i18next";

const STATE_TONE: Record<string, string> = {
  uploaded: "neutral",
  deidentified: "neutral",
  analyzing: "info",
  ai_ready: "info",
  report_signed: "accent",
  compared: "accent",
  concordant: "ok",
  discrepant: "bad",
  second_read: "warn",
  resolved: "ok",
};

export function StateChip({ state }: { state: string }) {
  const { t } = useTranslation();
  return <span className={`chip tone-${STATE_TONE[state] ?? "neutral"}`}>{t(`caseState.${state}`, { defaultValue: state })}</span>;
}

/** AI state as a chip: queued / analysing n% / ready / failed (progress is 0–1). */
export function aiStateLabel(state: string, progress: number | null | undefined, t: (k: string, o?: Record<string, unknown>) => string): string {
  if (state === "running") return t("aiState.analysing", { pct: Math.round(Math.max(0, Math.min(1, progress ?? 0)) * 100) });
  return t(`aiState.${state}`, { defaultValue: state });
}

export function AiStateChip({ state, progress }: { state?: string | null; progress?: number | null }) {
  const { t } = useTranslation();
  if (!state) return <span className="muted">—</span>;
  const tone = state === "failed" ? "bad" : state === "succeeded" ? "ok" : state === "none" || state === "cancelled" ? "neutral" : "info";
  return <span className={`chip tone-${tone}`} data-ai-state={state}>{aiStateLabel(state, progress, t)}</span>;
}

/** Major discrepancies of the current comparison, as a red count (nothing shown when zero). */
export function DiscrepancyBadge({ major }: { major?: number | null }) {
  const { t } = useTranslation();
  if (major === undefined || major === null) return <span className="muted">—</span>;
  if (!major) return <span className="muted">0</span>;
  return <span className="badge major" title={t("worklist.majorCount", { count: major })} data-testid="major-badge">{major}</span>;
}
