import { describe, expect, it } from "vitest";
import { inkLabel, inkOverlayItems, inkSummary } from "./ink";

const t = (key: string, opts?: Record<string, unknown>) => (opts ? `${key} ${JSON.stringify(opts)}` : key);

describe("inkSummary", () => {
  it("reads the worker's stats and counts glomeruli flagged ink", () => {
    const s = inkSummary({ stats: { ink_version: "1.0.0", ink_area_mm2: 2.574, ink_regions_px: [[[]], [[]]] } },
      [{ flags: ["ink"] }, { flags: ["ink", "edge_cut"] }, { flags: [] }, {}]);
    expect(s).toEqual({ checked: true, areaMm2: 2.574, regions: 2, flagged: 2 });
    expect(inkLabel(s, t)).toBe('ai.inkFound {"area":"2.57","regions":2,"flagged":2}');
  });
  it("tells a clean slide from one that was never checked", () => {
    const clean = inkSummary({ stats: { ink_version: "1.0.0", ink_area_mm2: 0, ink_regions_px: [] } }, [{ flags: null }]);
    expect(clean).toEqual({ checked: true, areaMm2: 0, regions: 0, flagged: 0 });
    expect(inkLabel(clean, t)).toBe("ai.inkNone");
    const old = inkSummary({ stats: { focus_version: "1.1.1" } }, []);
    expect(old.checked).toBe(false);
    expect(inkLabel(old, t)).toBe("ai.inkNotChecked");
    expect(inkSummary(null, []).checked).toBe(false);
  });
});

describe("inkOverlayItems", () => {
  it("outlines every ring of every region, with ids no glomerulus has", () => {
    const ring = (x: number) => [[x, 0], [x + 10, 0], [x + 10, 10], [x, 10], [x, 0]];
    const items = inkOverlayItems({ stats: { ink_regions_px: [[ring(0), ring(2)], [ring(100)], "junk", [[[1, 2]]]] } });
    expect(items.map((i) => i.id)).toEqual([-1, -2, -3]);
    expect(items.every((i) => i.style === "ink")).toBe(true);
    expect(items[2]!.bbox).toEqual({ x0: 100, y0: 0, x1: 110, y1: 10 });
    expect(inkOverlayItems({ stats: {} })).toEqual([]);
    expect(inkOverlayItems(undefined)).toEqual([]);
  });
});
