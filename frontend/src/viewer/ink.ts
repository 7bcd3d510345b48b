/** What the marker-ink rule found on a slide, for the AI panel and the overlay (worker/pipeline/ink.py). */
import { resultStats } from "./focus";
import { bboxOfPolygon, type OverlayItem } from "./overlay";

export interface InkSummary {
  /** The rule ran for this analysis (older analyses and `GLOMCHECK_INK_CHECK=0` did not). */
  checked: boolean;
  /** Area of marker ink left out of tissue, detection and classification (mm²). */
  areaMm2: number;
  /** Separate ink regions (outlines in the job result). */
  regions: number;
  /** Glomeruli bordered by ink (flag `ink`: not assessable). */
  flagged: number;
}

/** Read the summary from the job's result (`stats`, written by the worker) and the glomeruli's flags. */
export function inkSummary(result: Record<string, unknown> | null | undefined, gloms: { flags?: string[] | null }[]): InkSummary {
  const stats = resultStats(result);
  const area = typeof stats.ink_area_mm2 === "number" && Number.isFinite(stats.ink_area_mm2) ? stats.ink_area_mm2 : 0;
  return {
    checked: typeof stats.ink_version === "string" && stats.ink_version !== "",
    areaMm2: area,
    regions: Array.isArray(stats.ink_regions_px) ? stats.ink_regions_px.length : 0,
    flagged: gloms.filter((g) => g.flags?.includes("ink")).length,
  };
}

/** The panel's one-line description; `t` is i18next's translate. */
export function inkLabel(s: InkSummary, t: (key: string, opts?: Record<string, unknown>) => string): string {
  if (!s.checked) return t("ai.inkNotChecked");
  if (s.areaMm2 <= 0) return t("ai.inkNone");
  return t("ai.inkFound", { area: s.areaMm2.toFixed(2), regions: s.regions, flagged: s.flagged });
}

/** Overlay outlines of the ink regions (every ring: a ring drawn around tissue has an inner outline too).
 * Ids are negative so they never collide with glomeruli and are never selected. */
export function inkOverlayItems(result: Record<string, unknown> | null | undefined): OverlayItem[] {
  const stats = resultStats(result);
  const regions = Array.isArray(stats.ink_regions_px) ? (stats.ink_regions_px as unknown[]) : [];
  const out: OverlayItem[] = [];
  for (const poly of regions) {
    if (!Array.isArray(poly)) continue;
    for (const ring of poly) {
      if (!Array.isArray(ring) || ring.length < 3) continue;
      const pts = new Float64Array(ring.length * 2);
      (ring as [number, number][]).forEach(([x, y], i) => {
        pts[2 * i] = x;
        pts[2 * i + 1] = y;
      });
      out.push({ id: -(out.length + 1), pts, bbox: bboxOfPolygon(pts), style: "ink" });
    }
  }
  return out;
}
