import { describe, expect, it } from "vitest";
import { inkLabel, inkSummary } from "./ink";

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
