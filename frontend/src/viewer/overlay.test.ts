import { describe, expect, it } from "vitest";
import type { Glomerulus } from "../api/types";
import {
  SpatialGrid, bboxOfPolygon, drawOverlay, hitTest, imageToScreen, intersects, lodStride, mainFinding, pointInPolygon,
  screenToImage, styleOf, toOverlayItems, visibleImageRect, type OverlayItem, type Rect, type ViewTransform,
} from "./overlay";
import { fillSquare, plotPolygon, rgbaU32 } from "./raster";
import { readingOrder, step } from "./order";
import { OVERLAY_STYLES } from "./styles";

function square(id: number, x: number, y: number, size: number, status: Glomerulus["status"] = "normal", findings: Record<string, number> = {}): Glomerulus {
  return {
    id, polygon: [[x, y], [x + size, y], [x + size, y + size], [x, y + size]], bbox: [x, y, x + size, y + size],
    detection_score: 0.9, findings, status,
  };
}

function rng(seed: number) {
  return () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
}

/** A 2D context stand-in that records path calls. */
function recordingCtx() {
  const calls = { moveTo: 0, lineTo: 0, stroke: 0, fillRect: 0, rect: 0, putImageData: 0, dashes: [] as number[][] };
  const ctx = {
    canvas: { width: 800, height: 600 },
    set strokeStyle(_v: string) {}, set fillStyle(_v: string) {}, set lineWidth(_v: number) {}, set lineJoin(_v: string) {},
    setLineDash: (d: number[]) => calls.dashes.push(d),
    beginPath: () => {}, closePath: () => {},
    moveTo: () => calls.moveTo++, lineTo: () => calls.lineTo++, rect: () => calls.rect++,
    stroke: () => calls.stroke++, fillRect: () => calls.fillRect++,
  };
  return { ctx: ctx as unknown as CanvasRenderingContext2D, calls };
}

describe("transforms", () => {
  const t: ViewTransform = { scale: 0.25, tx: -100, ty: 40 };
  it("maps image to screen and back", () => {
    const [sx, sy] = imageToScreen(t, 1000, 2000);
    expect([sx, sy]).toEqual([150, 540]);
    expect(screenToImage(t, sx, sy)).toEqual([1000, 2000]);
  });
  it("computes the visible image rectangle", () => {
    expect(visibleImageRect(t, 800, 600)).toEqual({ x0: 400, y0: -160, x1: 3600, y1: 2240 });
    const m = visibleImageRect(t, 800, 600, 10);
    expect(m.x0).toBeCloseTo(360);
    expect(m.x1).toBeCloseTo(3640);
  });
});

describe("SpatialGrid culling", () => {
  const r = rng(42);
  const gloms = Array.from({ length: 3000 }, (_, i) => square(i + 1, r() * 100_000, r() * 80_000, 200 + r() * 600));
  const items = toOverlayItems(gloms);
  const grid = new SpatialGrid(items);

  it("returns exactly the items intersecting a rectangle (vs brute force)", () => {
    for (let k = 0; k < 50; k++) {
      const x0 = r() * 100_000, y0 = r() * 80_000;
      const rect: Rect = { x0, y0, x1: x0 + r() * 20_000, y1: y0 + r() * 15_000 };
      const expected = items.map((it, i) => (intersects(it.bbox, rect) ? i : -1)).filter((i) => i >= 0);
      expect(grid.query(rect)).toEqual(expected);
    }
  });

  it("handles a view larger than the whole slide and an empty view", () => {
    expect(grid.query({ x0: -1e6, y0: -1e6, x1: 1e6, y1: 1e6 })).toHaveLength(items.length);
    expect(grid.query({ x0: -5000, y0: -5000, x1: -4000, y1: -4000 })).toEqual([]);
  });

  it("lists an item spanning many cells once", () => {
    const big = new SpatialGrid(toOverlayItems([square(1, 0, 0, 50_000), square(2, 100, 100, 10)]), 1000);
    expect(big.query({ x0: 0, y0: 0, x1: 60_000, y1: 60_000 })).toEqual([0, 1]);
  });
});

describe("drawOverlay", () => {
  const gloms = [
    square(1, 0, 0, 400), // visible
    square(2, 1000, 1000, 400, "indeterminate"), // visible, dashed
    square(3, 50_000, 50_000, 400), // off screen
    square(4, 200, 1500, 400, "abnormal", { global_sclerosis: 0.9 }), // visible, disabled below
  ];
  const grid = new SpatialGrid(toOverlayItems(gloms));
  const t: ViewTransform = { scale: 0.5, tx: 0, ty: 0 }; // 800×600 px shows 1600×1200 image px... plus item 4 at y 1500 → off
  it("draws only visible, enabled outlines", () => {
    const { ctx, calls } = recordingCtx();
    const stats = drawOverlay(ctx, grid, { scale: 0.5, tx: 0, ty: 0 }, 800, 1000, OVERLAY_STYLES, (s) => s !== "finding:global_sclerosis");
    expect(stats.drawn).toBe(2);
    expect(calls.moveTo).toBe(2);
    expect(calls.dashes.some((d) => d.length > 0)).toBe(true); // indeterminate is dashed
  });
  it("draws tiny outlines as markers when zoomed far out", () => {
    const { ctx, calls } = recordingCtx();
    const stats = drawOverlay(ctx, grid, { scale: 0.01, tx: 0, ty: 0 }, 800, 600, OVERLAY_STYLES, () => true);
    expect(stats.drawn).toBe(4);
    expect(calls.fillRect).toBe(4);
    expect(calls.moveTo).toBe(0);
  });
  it("culls everything when the view is elsewhere", () => {
    const { ctx, calls } = recordingCtx();
    const stats = drawOverlay(ctx, grid, { ...t, tx: -1e6 }, 800, 600, OVERLAY_STYLES, () => true);
    expect(stats.drawn).toBe(0);
    expect(calls.stroke).toBe(0);
  });
  it("keeps about one vertex per 3 px", () => {
    expect(lodStride(64, 12)).toBe(10);
    expect(lodStride(64, 1000)).toBe(1);
  });
});

describe("hit testing", () => {
  const tri: Glomerulus = { id: 9, polygon: [[0, 0], [100, 0], [0, 100]], bbox: [0, 0, 100, 100], detection_score: 1, findings: {}, status: "normal" };
  const items = toOverlayItems([tri, square(10, 0, 0, 300)]);
  const grid = new SpatialGrid(items);
  it("uses the polygon, not the box, and prefers the smaller outline", () => {
    expect(pointInPolygon(items[0]!.pts, 10, 10)).toBe(true);
    expect(pointInPolygon(items[0]!.pts, 90, 90)).toBe(false);
    expect(hitTest(grid, 10, 10, () => true)?.id).toBe(9);
    expect(hitTest(grid, 90, 90, () => true)?.id).toBe(10);
    expect(hitTest(grid, 500, 500, () => true)).toBeNull();
  });
  it("ignores hidden layers", () => {
    expect(hitTest(grid, 10, 10, (it: OverlayItem) => it.id !== 9)?.id).toBe(10);
  });
});

describe("styles", () => {
  it("colours abnormal glomeruli by their main finding", () => {
    const g = square(1, 0, 0, 10, "abnormal", { global_sclerosis: 0.6, cellular_crescent: 0.8 });
    expect(mainFinding(g)).toBe("cellular_crescent");
    expect(styleOf(g)).toBe("finding:cellular_crescent");
    // With per-finding states, only a present finding can be the main one.
    expect(mainFinding({ ...g, finding_states: { global_sclerosis: "present", cellular_crescent: "indeterminate" } })).toBe("global_sclerosis");
    expect(styleOf(square(2, 0, 0, 10, "not_assessable"))).toBe("not_assessable");
  });
  it("has a style for every key, indeterminate dashed", () => {
    expect(OVERLAY_STYLES.indeterminate!.dash?.length).toBeGreaterThan(0);
    expect(OVERLAY_STYLES["finding:fibrinoid_necrosis"]).toBeDefined();
  });
  it("computes bboxes", () => {
    expect(bboxOfPolygon([3, 4, -1, 10, 7, 0])).toEqual({ x0: -1, y0: 0, x1: 7, y1: 10 });
  });
});

describe("software raster", () => {
  it("plots inside the buffer only", () => {
    const t = { buf: new Uint32Array(20 * 10), width: 20, height: 10 };
    const color = rgbaU32("#ff0000");
    plotPolygon(t, new Float64Array([-5, -5, 30, 2, 5, 30]), 1, 0, 0, 1, color);
    fillSquare(t, 19, 9, 6, color);
    expect(t.buf.length).toBe(200);
    expect(t.buf.some((v) => v === color)).toBe(true);
    expect(color).toBe(0xff0000ff);
  });
});

describe("reading order", () => {
  it("goes row by row, left to right, and wraps", () => {
    const g = [square(1, 500, 0, 100), square(2, 0, 20, 100), square(3, 0, 500, 100)];
    expect(readingOrder(g, (x) => ({ x0: (x.bbox as number[])[0]!, y0: (x.bbox as number[])[1]!, x1: (x.bbox as number[])[2]!, y1: (x.bbox as number[])[3]! })).map((x) => x.id)).toEqual([2, 1, 3]);
    expect(step(-1, 3, 1)).toBe(0);
    expect(step(-1, 3, -1)).toBe(2);
    expect(step(2, 3, 1)).toBe(0);
    expect(step(0, 3, -1)).toBe(2);
    expect(step(0, 0, 1)).toBe(-1);
  });
});
