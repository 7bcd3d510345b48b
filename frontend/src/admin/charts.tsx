import { useTranslation } from "react-i18next";

/** Chart helpers for the agreement page: plain SVG, no chart library. Colour scales are pure and tested. */

type RGB = [number, number, number];
const BASE: RGB = [29, 33, 38]; // the panel background (--chrome)
const AGREE: RGB = [76, 155, 232]; // --accent: the diagonal (both raters agree)
const DISAGREE: RGB = [229, 72, 77]; // --bad: off the diagonal

const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
const mix = (a: RGB, b: RGB, t: number): RGB => [0, 1, 2].map((i) => Math.round(a[i]! + (b[i]! - a[i]!) * t)) as RGB;

/** Fraction of the way up the scale: a square root so one stray disagreement is still visible beside a busy diagonal. */
export function heatLevel(count: number, max: number): number {
  if (!(max > 0) || !(count > 0)) return 0;
  return clamp01(Math.sqrt(count / max));
}

/** Cell colour: background at 0, full accent (diagonal) or red (disagreement) at the maximum count. */
export function heatColor(count: number, max: number, diagonal: boolean): string {
  const [r, g, b] = mix(BASE, diagonal ? AGREE : DISAGREE, heatLevel(count, max));
  return `rgb(${r}, ${g}, ${b})`;
}

/** Legible text over a cell: white once the fill is dark enough to need it... or bright enough to carry it. */
export function heatTextColor(count: number, max: number): string {
  return heatLevel(count, max) > 0.45 ? "#ffffff" : "#98a0aa";
}

export function ConfusionHeatmap({ labels, matrix, rowTitle, colTitle, label }: {
  labels: string[]; matrix: number[][]; rowTitle: string; colTitle: string; label: (l: string) => string;
}) {
  const { t } = useTranslation();
  const n = labels.length;
  if (!n) return <div className="muted small">{t("admin.noData")}</div>;
  const cell = n > 6 ? 26 : 34;
  const left = 86;
  const top = 40;
  const max = Math.max(0, ...matrix.flat());
  const w = left + n * cell + 4;
  const h = top + n * cell + 4;
  return (
    <svg className="heatmap" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${rowTitle} × ${colTitle}`} data-testid="heatmap">
      <text x={left + (n * cell) / 2} y={11} textAnchor="middle" className="axis-title">{colTitle} →</text>
      {labels.map((l, j) => (
        <text key={`c${j}`} x={left + j * cell + cell / 2} y={top - 8} textAnchor="middle" className="tick">{label(l)}</text>
      ))}
      <text x={4} y={top - 8} className="axis-title">{rowTitle} ↓</text>
      {labels.map((l, i) => (
        <g key={`r${i}`}>
          <text x={left - 6} y={top + i * cell + cell / 2 + 4} textAnchor="end" className="tick">{label(l)}</text>
          {labels.map((_, j) => {
            const v = matrix[i]?.[j] ?? 0;
            return (
              <g key={j}>
                <rect x={left + j * cell} y={top + i * cell} width={cell - 2} height={cell - 2} rx={2} fill={heatColor(v, max, i === j)}
                  stroke={i === j ? "#4c9be8" : "none"} strokeOpacity={0.5}>
                  <title>{`${rowTitle} ${label(l)} · ${colTitle} ${label(labels[j]!)}: ${v}`}</title>
                </rect>
                <text x={left + j * cell + (cell - 2) / 2} y={top + i * cell + (cell - 2) / 2 + 4} textAnchor="middle" className="cell" fill={heatTextColor(v, max)}>{v}</text>
              </g>
            );
          })}
        </g>
      ))}
    </svg>
  );
}

export const SERIES_COLOURS = ["#4c9be8", "#2fbf71", "#f2a900", "#e5484d", "#b9b8f7", "#6dd3ce", "#f08bd6", "#c7c9cc", "#9acd32"];

export interface Series {
  key: string;
  label: string;
  values: (number | null)[];
}

/** Monthly trend lines (0–100 %); a gap where a month has no value; one dot per point. */
export function TrendChart({ months, series, height = 180 }: { months: string[]; series: Series[]; height?: number }) {
  const { t } = useTranslation();
  if (!months.length) return <div className="muted small">{t("admin.noData")}</div>;
  const left = 34;
  const right = 10;
  const top = 10;
  const bottom = 22;
  const step = months.length > 1 ? Math.max(36, Math.min(90, 560 / (months.length - 1))) : 0;
  const w = left + right + Math.max(step * (months.length - 1), 60);
  const plotH = height - top - bottom;
  const x = (i: number) => left + (months.length > 1 ? i * step : 30);
  const y = (v: number) => top + plotH * (1 - clamp01(v / 100));
  return (
    <div className="trend">
      <svg width={w} height={height} viewBox={`0 0 ${w} ${height}`} role="img" aria-label={t("admin.trend")} data-testid="trend-chart">
        {[0, 25, 50, 75, 100].map((g) => (
          <g key={g}>
            <line x1={left} x2={w - right} y1={y(g)} y2={y(g)} className="gridline" />
            <text x={left - 4} y={y(g) + 3} textAnchor="end" className="tick">{g}%</text>
          </g>
        ))}
        {months.map((m, i) => <text key={m} x={x(i)} y={height - 6} textAnchor="middle" className="tick">{m}</text>)}
        {series.map((s, si) => {
          const colour = SERIES_COLOURS[si % SERIES_COLOURS.length]!;
          const segments: string[] = [];
          let d = "";
          s.values.forEach((v, i) => {
            if (v === null || v === undefined) {
              if (d) segments.push(d);
              d = "";
              return;
            }
            d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
          });
          if (d) segments.push(d);
          return (
            <g key={s.key} stroke={colour} fill={colour}>
              {segments.map((p, k) => <path key={k} d={p} fill="none" strokeWidth={2} />)}
              {s.values.map((v, i) => (v === null || v === undefined ? null : (
                <circle key={i} cx={x(i)} cy={y(v)} r={3}><title>{`${s.label} ${months[i]}: ${v.toFixed(0)}%`}</title></circle>
              )))}
            </g>
          );
        })}
      </svg>
      <ul className="trend-legend">
        {series.map((s, si) => (
          <li key={s.key}><span className="swatch" style={{ background: SERIES_COLOURS[si % SERIES_COLOURS.length] }} />{s.label}</li>
        ))}
      </ul>
    </div>
  );
}
