/**
 * Glomerulus overlay geometry: a uniform-grid spatial index over level-0 image coordinates, culling to
 * the visible rectangle, hit testing, and drawing every visible outline on ONE 2D canvas, batched by
 * style (one stroke() per style) so 5,000 polygons stay cheap. Pure functions; no OpenSeadragon here.
 */
import type { Finding, Glomerulus, GlomStatus } from "../api/types";
import { FINDINGS } from "../api/types";
import { fillSquare, plotPolygon, rgbaU32, type RasterTarget } from "./raster";

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** screen = image * scale + (tx, ty), in CSS pixels of the viewer element (no rotation). */
export interface ViewTransform {
  scale: number;
  tx: number;
  ty: number;
}

/** A style key: a status, or for abnormal glomeruli the main finding; "ink" outlines marker ink the analysis left out. */
export type StyleKey = Exclude<GlomStatus, "abnormal"> | `finding:${Finding}` | "finding:other" | "ink";

export interface OverlayItem {
  id: number;
  /** Flat [x0, y0, x1, y1, ...] level-0 pixel coordinates. */
  pts: Float64Array;
  bbox: Rect;
  style: StyleKey;
}

export function bboxOfPolygon(pts: ArrayLike<number>): Rect {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i + 1 < pts.length; i += 2) {
    const x = pts[i]!, y = pts[i + 1]!;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return { x0, y0, x1, y1 };
}

export function intersects(a: Rect, b: Rect): boolean {
  return a.x0 <= b.x1 && a.x1 >= b.x0 && a.y0 <= b.y1 && a.y1 >= b.y0;
}

/** The main finding of an abnormal glomerulus: a finding marked present with the highest probability. */
export function mainFinding(g: Pick<Glomerulus, "findings" | "finding_states" | "main_finding">): Finding | null {
  if (g.main_finding && (FINDINGS as readonly string[]).includes(g.main_finding)) return g.main_finding as Finding;
  let best: Finding | null = null;
  let bestP = -1;
  for (const f of FINDINGS) {
    const p = g.findings[f];
    if (p === undefined) continue;
    if (g.finding_states && g.finding_states[f] !== "present") continue;
    if (p > bestP) {
      bestP = p;
      best = f;
    }
  }
  return best;
}

export function styleOf(g: Pick<Glomerulus, "status" | "findings" | "finding_states" | "main_finding">): StyleKey {
  if (g.status !== "abnormal") return g.status;
  const f = mainFinding(g);
  return f ? `finding:${f}` : "finding:other";
}

function bboxOf(g: Glomerulus): Rect | null {
  const b = g.bbox as unknown;
  if (Array.isArray(b) && b.length === 4) return { x0: b[0], y0: b[1], x1: b[2], y1: b[3] };
  if (b && typeof b === "object" && "x0" in b) return b as Rect;
  return null;
}

export function toOverlayItems(gloms: Glomerulus[]): OverlayItem[] {
  return gloms.map((g) => {
    const pts = new Float64Array(g.polygon.length * 2);
    g.polygon.forEach(([x, y], i) => {
      pts[2 * i] = x;
      pts[2 * i + 1] = y;
    });
    return { id: g.id, pts, bbox: bboxOf(g) ?? bboxOfPolygon(pts), style: styleOf(g) };
  });
}

/** Uniform grid over image space; each item is listed in every cell its bbox touches. */
export class SpatialGrid {
  readonly cell: number;
  private readonly cells = new Map<number, number[]>();
  private readonly stamp: Uint32Array;
  private epoch = 0;
  private static readonly SPAN = 1 << 20;

  constructor(readonly items: OverlayItem[], cell?: number) {
    // Aim for a cell about four times a typical glomerulus; fall back to 2048 px.
    const sizes = items.slice(0, 500).map((it) => Math.max(it.bbox.x1 - it.bbox.x0, it.bbox.y1 - it.bbox.y0));
    sizes.sort((a, b) => a - b);
    const median = sizes.length ? sizes[sizes.length >> 1]! : 512;
    this.cell = cell ?? Math.max(256, Math.round(median * 4) || 2048);
    this.stamp = new Uint32Array(items.length);
    items.forEach((it, i) => {
      const cx0 = Math.floor(it.bbox.x0 / this.cell), cx1 = Math.floor(it.bbox.x1 / this.cell);
      const cy0 = Math.floor(it.bbox.y0 / this.cell), cy1 = Math.floor(it.bbox.y1 / this.cell);
      for (let cy = cy0; cy <= cy1; cy++)
        for (let cx = cx0; cx <= cx1; cx++) {
          const key = cy * SpatialGrid.SPAN + cx;
          const list = this.cells.get(key);
          if (list) list.push(i);
          else this.cells.set(key, [i]);
        }
    });
  }

  /** Indices of items whose bbox intersects `r`, each once, in index order. */
  query(r: Rect): number[] {
    this.epoch = (this.epoch + 1) >>> 0;
    if (this.epoch === 0) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
    const out: number[] = [];
    const cx0 = Math.floor(r.x0 / this.cell), cx1 = Math.floor(r.x1 / this.cell);
    const cy0 = Math.floor(r.y0 / this.cell), cy1 = Math.floor(r.y1 / this.cell);
    // A viewport wider than the whole index (zoomed far out) would visit many empty cells: scan instead.
    if ((cx1 - cx0 + 1) * (cy1 - cy0 + 1) > this.cells.size) {
      this.items.forEach((it, i) => {
        if (intersects(it.bbox, r)) out.push(i);
      });
      return out;
    }
    for (let cy = cy0; cy <= cy1; cy++)
      for (let cx = cx0; cx <= cx1; cx++) {
        const list = this.cells.get(cy * SpatialGrid.SPAN + cx);
        if (!list) continue;
        for (const i of list) {
          if (this.stamp[i] === this.epoch) continue;
          this.stamp[i] = this.epoch;
          if (intersects(this.items[i]!.bbox, r)) out.push(i);
        }
      }
    out.sort((a, b) => a - b);
    return out;
  }
}

/** The part of the image (level-0 px) visible in a viewer of `width`×`height` CSS px, plus a margin. */
export function visibleImageRect(t: ViewTransform, width: number, height: number, marginPx = 0): Rect {
  return {
    x0: (-marginPx - t.tx) / t.scale,
    y0: (-marginPx - t.ty) / t.scale,
    x1: (width + marginPx - t.tx) / t.scale,
    y1: (height + marginPx - t.ty) / t.scale,
  };
}

export function imageToScreen(t: ViewTransform, x: number, y: number): [number, number] {
  return [x * t.scale + t.tx, y * t.scale + t.ty];
}

export function screenToImage(t: ViewTransform, sx: number, sy: number): [number, number] {
  return [(sx - t.tx) / t.scale, (sy - t.ty) / t.scale];
}

export function pointInPolygon(pts: ArrayLike<number>, x: number, y: number): boolean {
  let inside = false;
  const n = pts.length >> 1;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = pts[2 * i]!, yi = pts[2 * i + 1]!, xj = pts[2 * j]!, yj = pts[2 * j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The visible item under an image point; smallest bbox wins when outlines overlap. */
export function hitTest(grid: SpatialGrid, x: number, y: number, visible: (it: OverlayItem) => boolean, tolerance = 0): OverlayItem | null {
  let best: OverlayItem | null = null;
  let bestArea = Infinity;
  for (const i of grid.query({ x0: x - tolerance, y0: y - tolerance, x1: x + tolerance, y1: y + tolerance })) {
    const it = grid.items[i]!;
    if (!visible(it)) continue;
    const small = (it.bbox.x1 - it.bbox.x0) <= 2 * tolerance || (it.bbox.y1 - it.bbox.y0) <= 2 * tolerance;
    if (!small && !pointInPolygon(it.pts, x, y)) continue;
    const area = (it.bbox.x1 - it.bbox.x0) * (it.bbox.y1 - it.bbox.y0);
    if (area < bestArea) {
      bestArea = area;
      best = it;
    }
  }
  return best;
}

export interface StrokeStyle {
  color: string;
  dash?: number[];
  width?: number;
}

export interface DrawStats {
  drawn: number;
  culled: number;
  styles: number;
}

/** Outlines smaller than this on screen are drawn as a filled marker: cheaper, and still visible. */
export const MIN_OUTLINE_PX = 12;
/** Below this median on-screen size a style is drawn solid and thinner. */
const DASH_MIN_PX = 24;
/** Outlines per stroke() call (see drawOverlay). */
export let STROKE_BATCH = 1;
export function setStrokeBatch(n: number): void {
  STROKE_BATCH = n;
}
/** Level of detail: about one vertex per this many screen pixels of outline diameter. */
const PX_PER_VERTEX = 3;

function medianScreenSize(items: OverlayItem[], list: number[], scale: number): number {
  if (!list.length) return 0;
  const it = items[list[list.length >> 1]!]!;
  return Math.max(it.bbox.x1 - it.bbox.x0, it.bbox.y1 - it.bbox.y0) * scale;
}

/** Vertex stride so that an outline `screenSize` px across keeps about one vertex per PX_PER_VERTEX px. */
export function lodStride(n: number, screenSize: number): number {
  const target = Math.max(6, Math.ceil(screenSize / PX_PER_VERTEX));
  return n > target ? Math.floor(n / target) : 1;
}

/** Add one closed outline to the current path, skipping vertices that would fall within a few pixels. */
export function tracePolygon(ctx: CanvasRenderingContext2D, p: Float64Array, scale: number, tx: number, ty: number, screenSize: number): number {
  const n = p.length >> 1;
  const stride = lodStride(n, screenSize);
  ctx.moveTo(p[0]! * scale + tx, p[1]! * scale + ty);
  let drawn = 1;
  for (let v = stride; v < n; v += stride) {
    ctx.lineTo(p[2 * v]! * scale + tx, p[2 * v + 1]! * scale + ty);
    drawn++;
  }
  ctx.closePath();
  return drawn;
}

/** Outlines up to this size on screen (CSS px) go through the software rasteriser when it is enabled. */
export const RASTER_MAX_PX = 40;

const imageDataCache = new WeakMap<object, ImageData>();

function rasterTarget(ctx: CanvasRenderingContext2D): { img: ImageData; target: RasterTarget } | null {
  if (typeof ctx.createImageData !== "function" || typeof ctx.putImageData !== "function") return null;
  const w = ctx.canvas.width, h = ctx.canvas.height;
  // A canvas laid out at zero size (viewer hidden or being resized) has no pixels to plot into.
  if (!(w > 0 && h > 0)) return null;
  let img = imageDataCache.get(ctx.canvas);
  if (!img || img.width !== w || img.height !== h) {
    img = ctx.createImageData(w, h);
    imageDataCache.set(ctx.canvas, img);
  }
  const buf = new Uint32Array(img.data.buffer);
  buf.fill(0);
  return { img, target: { buf, width: w, height: h } };
}

export interface DrawOptions {
  selectedId?: number | null;
  highlighted?: ReadonlySet<number> | null;
  /** Device pixel ratio the context's transform applies (needed by the software rasteriser). */
  dpr?: number;
  /** Plot small outlines in a pixel buffer (fast without a GPU); the canvas must be cleared first. */
  raster?: boolean;
}

/**
 * Draw the visible, enabled items. The context is expected to be in CSS pixels (caller applies the
 * devicePixelRatio transform and clears).
 */
export function drawOverlay(
  ctx: CanvasRenderingContext2D,
  grid: SpatialGrid,
  t: ViewTransform,
  width: number,
  height: number,
  styles: Record<string, StrokeStyle>,
  enabled: (style: StyleKey) => boolean,
  opts: DrawOptions = {},
): DrawStats {
  const { selectedId = null, highlighted = null, dpr = 1 } = opts;
  const idx = grid.query(visibleImageRect(t, width, height, 4));
  const byStyle = new Map<StyleKey, number[]>();
  let drawn = 0;
  let selected: OverlayItem | null = null;
  for (const i of idx) {
    const it = grid.items[i]!;
    if (it.id === selectedId) selected = it;
    if (!enabled(it.style)) continue;
    let list = byStyle.get(it.style);
    if (!list) byStyle.set(it.style, (list = []));
    list.push(i);
    drawn++;
  }
  const { scale, tx, ty } = t;
  const raster = opts.raster ? rasterTarget(ctx) : null;
  const large = new Map<StyleKey, number[]>();
  // Pass 1: markers and small outlines (into the pixel buffer if enabled, else as canvas paths).
  for (const [style, list] of byStyle) {
    const s = styles[style] ?? { color: "#e0e0e0" };
    const big: number[] = [];
    large.set(style, big);
    const color = raster ? rgbaU32(s.color) : 0;
    const dash = s.dash ? Math.round(s.dash[0]! * dpr) : 0;
    for (const i of list) {
      const it = grid.items[i]!;
      const w = (it.bbox.x1 - it.bbox.x0) * scale, h = (it.bbox.y1 - it.bbox.y0) * scale;
      const size = Math.max(w, h);
      if (size < MIN_OUTLINE_PX) {
        // Zoomed far out an outline is a smudge; a small filled square marks the spot.
        const d = Math.min(Math.max(size * 0.6, 3), 7);
        const cx = (it.bbox.x0 + it.bbox.x1) * 0.5 * scale + tx, cy = (it.bbox.y0 + it.bbox.y1) * 0.5 * scale + ty;
        if (raster) fillSquare(raster.target, cx * dpr, cy * dpr, d * dpr, color);
        else {
          ctx.fillStyle = s.color;
          ctx.fillRect(cx - d / 2, cy - d / 2, d, d);
        }
      } else if (raster && size <= RASTER_MAX_PX) {
        plotPolygon(raster.target, it.pts, scale * dpr, tx * dpr, ty * dpr, lodStride(it.pts.length >> 1, size * dpr), color, size >= DASH_MIN_PX ? dash : 0);
      } else big.push(i);
    }
  }
  if (raster) ctx.putImageData(raster.img, 0, 0);
  // Pass 2: larger outlines as antialiased canvas paths, dashed where the style says so.
  ctx.lineJoin = "bevel";
  for (const [style, list] of large) {
    if (!list.length) continue;
    const s = styles[style] ?? { color: "#e0e0e0" };
    ctx.strokeStyle = s.color;
    const small = medianScreenSize(grid.items, list, scale) < DASH_MIN_PX;
    ctx.lineWidth = (s.width ?? 2) * (small ? 0.75 : 1);
    ctx.setLineDash(small ? [] : (s.dash ?? []));
    ctx.beginPath();
    let inBatch = 0;
    for (const i of list) {
      const it = grid.items[i]!;
      const w = (it.bbox.x1 - it.bbox.x0) * scale, h = (it.bbox.y1 - it.bbox.y0) * scale;
      tracePolygon(ctx, it.pts, scale, tx, ty, Math.max(w, h));
      // Stroke in small batches: a software rasteriser scans a path's whole bounding box, so one path
      // spanning the screen costs far more than many compact ones.
      if (++inBatch >= STROKE_BATCH) {
        ctx.stroke();
        ctx.beginPath();
        inBatch = 0;
      }
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  if (highlighted && highlighted.size) {
    ctx.strokeStyle = "#00e5ff";
    ctx.lineWidth = 3;
    ctx.beginPath();
    for (const i of idx) {
      const it = grid.items[i]!;
      if (!highlighted.has(it.id)) continue;
      const pad = 6;
      ctx.rect(it.bbox.x0 * scale + tx - pad, it.bbox.y0 * scale + ty - pad, (it.bbox.x1 - it.bbox.x0) * scale + 2 * pad, (it.bbox.y1 - it.bbox.y0) * scale + 2 * pad);
    }
    ctx.stroke();
  }
  if (selected) {
    const p = selected.pts;
    // A dark halo under a thick line in the status colour: visible on bright glass and on dense tissue.
    ctx.strokeStyle = "rgba(0,0,0,0.85)";
    ctx.lineWidth = 7;
    ctx.beginPath();
    ctx.moveTo(p[0]! * scale + tx, p[1]! * scale + ty);
    for (let k = 2; k + 1 < p.length; k += 2) ctx.lineTo(p[k]! * scale + tx, p[k + 1]! * scale + ty);
    ctx.closePath();
    ctx.stroke();
    ctx.strokeStyle = styles[selected.style]?.color ?? "#e0e0e0";
    ctx.lineWidth = 3.5;
    ctx.stroke();
  }
  return { drawn, culled: grid.items.length - drawn, styles: byStyle.size };
}
