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

export function AiStateChip({ state, progress }: { state?: string | null; progress?: number | null }) {
  const { t } = useTranslation();
  if (!state) return <span className="muted">—</span>;
  const tone = state === "failed" ? "bad" : state === "ready" || state === "succeeded" ? "ok" : "info";
  const label = state === "running" || state === "analysing" || state === "analyzing"
    ? t("aiState.analysing", { pct: Math.round((progress ?? 0) * (progress !== null && progress !== undefined && progress <= 1 ? 100 : 1)) })
    : t(`aiState.${state}`, { defaultValue: state });
  return <span className={`chip tone-${tone}`}>{label}</span>;
}

export function DiscrepancyBadge({ major, minor }: { major?: number | null; minor?: number | null }) {
  const { t } = useTranslation();
  if (major === undefined && minor === undefined) return <span className="muted">—</span>;
  if (!major && !minor) return <span className="muted">0</span>;
  return (
    <span className="disc-badges">
      {major ? <span className="badge major" title={t("severity.major")}>{major}</span> : null}
      {minor ? <span className="badge minor" title={t("severity.minor")}>{minor}</span> : null}
    </span>
  );
}
