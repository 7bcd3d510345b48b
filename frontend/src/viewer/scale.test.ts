import { describe, expect, it } from "vitest";
import { applyJobEvent, normaliseProgress } from "../analysis/useJobProgress";
import { filterCases } from "../pages/WorklistPage";
import { formatLength, formatMagnification, magnification, scaleBar, scaleForMagnification } from "./scale";
import { maxLevel, parseDzi, tilesForRegion } from "./crop";

describe("scale bar and magnification", () => {
  it("picks 1-2-5 lengths that fit", () => {
    const b = scaleBar(0.25, 1, 120)!; // 0.25 µm per screen px → 30 µm max → 20 µm
    expect(b.um).toBe(20);
    expect(b.px).toBeCloseTo(80);
    expect(scaleBar(0.25, 0.01, 120)!.um).toBe(2000);
    expect(scaleBar(0, 1)).toBeNull();
    expect(formatLength(2000)).toBe("2 mm");
    expect(formatLength(50)).toBe("50 µm");
  });
  it("reports apparent objective power", () => {
    expect(magnification(1, 0.25, 40)).toBeCloseTo(40);
    expect(magnification(0.5, 0.5, 20)).toBeCloseTo(10);
    expect(magnification(0.5, null, 20)).toBe(10);
    expect(magnification(1, null, null)).toBeNull();
    expect(scaleForMagnification(10, 0.25, 40)).toBeCloseTo(0.25);
    expect(formatMagnification(5.04)).toBe("5.0×");
    expect(formatMagnification(null)).toBe("—");
  });
});

describe("Deep Zoom crops", () => {
  const xml = `<?xml version="1.0"?><Image xmlns="http://schemas.microsoft.com/deepzoom/2008" TileSize="254" Overlap="1" Format="jpeg"><Size Width="2220" Height="2967"/></Image>`;
  it("parses the descriptor and picks a level and its tiles", () => {
    const info = parseDzi(xml);
    expect(info).toEqual({ width: 2220, height: 2967, tileSize: 254, overlap: 1, format: "jpeg" });
    expect(maxLevel(info)).toBe(12);
    const { level, tiles } = tilesForRegion(info, { x0: 1000, y0: 1000, x1: 1400, y1: 1400 }, 200);
    expect(level).toBe(11); // 400 px → 200 px
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.every((t) => t.level === 11)).toBe(true);
  });
});

describe("job events", () => {
  const empty = { state: null, stage: null, progress: null, error: null, connected: true };
  it("folds `event: job` JSON and the end event", () => {
    let s = applyJobEvent(empty, "job", JSON.stringify({ state: "running", stage: "detection", progress: 0.42 }));
    expect(s).toMatchObject({ state: "running", stage: "detection", progress: 0.42 });
    s = applyJobEvent(s, "end", JSON.stringify({ state: "succeeded" }));
    expect(s.state).toBe("succeeded");
    expect(normaliseProgress(55)).toBeCloseTo(0.55);
  });
});

describe("worklist filters", () => {
  const rows = [
    { id: 1, number: "H1-2026-0001", state: "uploaded", created_at: "2026-01-05T10:00:00Z", updated_at: "2026-01-05T10:00:00Z" },
    { id: 2, number: "H1-2026-0002", state: "discrepant", created_at: "2026-02-05T10:00:00Z", updated_at: "2026-03-01T10:00:00Z" },
  ];
  it("searches, filters by state and date, newest change first", () => {
    expect(filterCases(rows, { q: "0002", state: "", from: "", to: "" }).map((c) => c.id)).toEqual([2]);
    expect(filterCases(rows, { q: "", state: "uploaded", from: "", to: "" }).map((c) => c.id)).toEqual([1]);
    expect(filterCases(rows, { q: "", state: "", from: "2026-02-01", to: "" }).map((c) => c.id)).toEqual([2]);
    expect(filterCases(rows, { q: "", state: "", from: "", to: "2026-01-31" }).map((c) => c.id)).toEqual([1]);
    expect(filterCases(rows, { q: "", state: "", from: "", to: "" }).map((c) => c.id)).toEqual([2, 1]);
  });
});
