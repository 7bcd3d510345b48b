import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import type { Glomerulus } from "../api/types";
import { FINDINGS } from "../api/types";
import { cropFromDzi } from "./crop";
import { mainFinding, type Rect } from "./overlay";
import { FINDING_COLORS, STATUS_COLORS } from "./styles";
import { ModelCaveat } from "../models/ModelCaveat";
import { useSyntheticOnly } from "../models/useSyntheticOnly";

export function glomBbox(g: Glomerulus): Rect {
  const b = g.bbox as unknown;
  if (Array.isArray(b)) return { x0: b[0] as number, y0: b[1] as number, x1: b[2] as number, y1: b[3] as number };
  return b as Rect;
}

export function statusColor(g: Glomerulus): string {
  if (g.status === "abnormal") {
    const f = mainFinding(g);
    return f ? FINDING_COLORS[f] : "#e34a33";
  }
  return STATUS_COLORS[g.status];
}

/** A crop of the glomerulus from the slide's own tiles; loads only when scrolled into view. */
export function GlomCrop({ slideId, g, size = 160 }: { slideId: number; g: Glomerulus; size?: number }) {
  const { t } = useTranslation();
  const ref = useRef<HTMLDivElement>(null);
  const [visible, setVisible] = useState(typeof IntersectionObserver === "undefined");
  useEffect(() => {
    if (visible || !ref.current) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setVisible(true);
    }, { rootMargin: "200px" });
    io.observe(ref.current);
    return () => io.disconnect();
  }, [visible]);
  const crop = useQuery({
    queryKey: ["crop", slideId, g.id, size],
    queryFn: () => cropFromDzi(`/api/slides/${slideId}/dzi`, `/api/slides/${slideId}/dzi_files`, glomBbox(g), size),
    enabled: visible,
    staleTime: Infinity,
    gcTime: 5 * 60_000,
    retry: 1,
  });
  return (
    <div ref={ref} className="glom-crop" style={{ width: size, height: size, borderColor: statusColor(g), borderStyle: g.status === "indeterminate" ? "dashed" : "solid" }}>
      {crop.data ? <img src={crop.data} alt={t("viewer.cropAlt", { n: (g.index ?? g.id) + 0 })} /> : <span className="muted small">{crop.isError ? t("viewer.cropFailed") : "…"}</span>}
    </div>
  );
}

/** Finding probabilities as small bars, most likely first, with indeterminate flags. */
export function ProbabilityBars({ g, compact = false, synthetic }: { g: Glomerulus; compact?: boolean; synthetic?: Set<string> }) {
  const { t } = useTranslation();
  const rows = FINDINGS.filter((f) => g.findings[f] !== undefined).sort((a, b) => (g.findings[b] ?? 0) - (g.findings[a] ?? 0));
  const shown = compact ? rows.slice(0, 3) : rows;
  return (
    <ul className={compact ? "prob-bars compact" : "prob-bars"}>
      {shown.map((f) => {
        const p = g.findings[f] ?? 0;
        const st = g.finding_states?.[f];
        return (
          <li key={f} className={st ? `fs-${st}` : undefined}>
            <span className="prob-label" title={synthetic?.has(f) ? `${t(`finding.${f}`)} — ${t("viewer.syntheticOnlyHint")}` : t(`finding.${f}`)}>
              {t(compact ? `findingShort.${f}` : `finding.${f}`)}{synthetic?.has(f) ? <sup className="syn-mark">{t("viewer.syn")}</sup> : null}
            </span>
            <span className="prob-track"><span className="prob-fill" style={{ width: `${(p * 100).toFixed(0)}%`, background: FINDING_COLORS[f] }} /></span>
            <span className="prob-value mono">{p.toFixed(2)}</span>
            {st === "indeterminate" ? <span className="flag-indet" title={t("glomStatus.indeterminate")}>?</span> : st === "present" ? <span className="flag-present" title={t("viewer.present")}>●</span> : null}
          </li>
        );
      })}
    </ul>
  );
}

export function GlomCard({ slideId, g, ordinal, total, mppX, onClose, onPrev, onNext }: {
  slideId: number; g: Glomerulus; ordinal: number; total: number; mppX?: number | null;
  onClose: () => void; onPrev: () => void; onNext: () => void;
}) {
  const { t } = useTranslation();
  const synthetic = useSyntheticOnly("glom_classifier");
  const main = mainFinding(g);
  const b = glomBbox(g);
  const diameterUm = mppX ? (Math.max(b.x1 - b.x0, b.y1 - b.y0) * mppX).toFixed(0) : null;
  const indet = FINDINGS.filter((f) => g.finding_states?.[f] === "indeterminate");
  // N/P (or a click on the slide) picks a glomerulus while the panel may be scrolled to its foot: bring the card into view
  const cardRef = useRef<HTMLElement>(null);
  useEffect(() => {
    cardRef.current?.scrollIntoView?.({ block: "nearest" });
  }, [g.id]);
  return (
    <section ref={cardRef} className="glom-card" data-testid="glom-card" aria-label={t("viewer.glomCard")}>
      <header>
        <strong>{t("viewer.glomTitle", { n: ordinal, total })}</strong>
        <span className="chip" style={{ borderColor: statusColor(g), color: statusColor(g) }}>{t(`glomStatus.${g.status}`)}</span>
        <span className="spacer" />
        <button type="button" className="btn small ghost" onClick={onPrev} title="P">‹</button>
        <button type="button" className="btn small ghost" onClick={onNext} title="N">›</button>
        <button type="button" className="btn small ghost" onClick={onClose} aria-label={t("common.close")}>×</button>
      </header>
      <div className="glom-card-body">
        <GlomCrop slideId={slideId} g={g} size={176} />
        <div className="glom-facts">
          {main && g.status === "abnormal" ? <div><span className="muted">{t("viewer.mainFinding")}</span> {t(`finding.${main}`)}</div> : null}
          <div><span className="muted">{t("viewer.detectionScore")}</span> <span className="mono">{g.detection_score.toFixed(2)}</span></div>
          {diameterUm ? <div><span className="muted">{t("viewer.diameter")}</span> <span className="mono">{diameterUm} µm</span></div> : null}
          {g.area_um2 ? <div><span className="muted">{t("viewer.area")}</span> <span className="mono">{Math.round(g.area_um2).toLocaleString()} µm²</span></div> : null}
          {indet.length ? <div className="indet-flags"><span className="muted">{t("viewer.indeterminateFindings")}</span> {indet.map((f) => t(`finding.${f}`)).join(", ")}</div> : null}
          {g.flags?.length ? <div className="indet-flags"><span className="muted">{t("viewer.flags")}</span> {g.flags.map((f) => t(`glomFlag.${f}`, { defaultValue: f })).join(", ")}</div> : null}
        </div>
      </div>
      <ProbabilityBars g={g} synthetic={synthetic} />
      {synthetic.size ? <div className="muted small"><sup className="syn-mark">{t("viewer.syn")}</sup> {t("viewer.syntheticOnlyHint")}</div> : null}
      <ModelCaveat model="glom_classifier" />
    </section>
  );
}
