/**
 * A tiny software rasteriser for small outlines. Chromium's 2D canvas without a GPU costs tens of
 * microseconds per stroke() call; thousands of small outlines (zoomed out) are far cheaper to plot
 * into a pixel buffer with Bresenham lines and blit once with putImageData.
 */

/** "#rrggbb" → 0xAABBGGRR (little-endian RGBA as one Uint32). */
export function rgbaU32(hex: string, alpha = 255): number {
  const h = hex.replace("#", "");
  const r = parseInt(h.slice(0, 2), 16), g = parseInt(h.slice(2, 4), 16), b = parseInt(h.slice(4, 6), 16);
  return ((alpha << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export interface RasterTarget {
  buf: Uint32Array;
  width: number;
  height: number;
}

/** A 2-px line; `dash` > 0 leaves gaps (on `dash` px, off `dash/2` px) measured along the line. */
export function plotLine(t: RasterTarget, x0: number, y0: number, x1: number, y1: number, color: number, dash = 0, phase = 0): number {
  let x = Math.round(x0), y = Math.round(y0);
  const xe = Math.round(x1), ye = Math.round(y1);
  const dx = Math.abs(xe - x), dy = -Math.abs(ye - y);
  const sx = x < xe ? 1 : -1, sy = y < ye ? 1 : -1;
  const steep = -dy > dx;
  let err = dx + dy;
  const { buf, width, height } = t;
  const period = dash > 0 ? dash + Math.max(1, dash >> 1) : 0;
  let n = phase;
  for (;;) {
    if (!period || n % period < dash) {
      if (x >= 0 && y >= 0 && x < width && y < height) buf[y * width + x] = color;
      const x2 = steep ? x + 1 : x, y2 = steep ? y : y + 1;
      if (x2 >= 0 && y2 >= 0 && x2 < width && y2 < height) buf[y2 * width + x2] = color;
    }
    n++;
    if (x === xe && y === ye) break;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
  return n;
}

/** Closed outline of flat [x, y, ...] image coordinates, mapped by screen = p * scale + t, with `stride` vertex skipping. */
export function plotPolygon(t: RasterTarget, p: Float64Array, scale: number, tx: number, ty: number, stride: number, color: number, dash = 0): void {
  const n = p.length >> 1;
  if (n < 2) return;
  let px = p[0]! * scale + tx, py = p[1]! * scale + ty;
  const fx = px, fy = py;
  let phase = 0;
  for (let v = stride; v < n; v += stride) {
    const qx = p[2 * v]! * scale + tx, qy = p[2 * v + 1]! * scale + ty;
    phase = plotLine(t, px, py, qx, qy, color, dash, phase);
    px = qx;
    py = qy;
  }
  plotLine(t, px, py, fx, fy, color, dash, phase);
}

export function fillSquare(t: RasterTarget, cx: number, cy: number, d: number, color: number): void {
  const x0 = Math.max(0, Math.round(cx - d / 2)), y0 = Math.max(0, Math.round(cy - d / 2));
  const x1 = Math.min(t.width, Math.round(cx + d / 2)), y1 = Math.min(t.height, Math.round(cy + d / 2));
  for (let y = y0; y < y1; y++) t.buf.fill(color, y * t.width + x0, y * t.width + x1);
}
