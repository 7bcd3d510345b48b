import { describe, expect, it } from "vitest";
import { analysisTime, analysisTimeLabel } from "./timings";

const t = (key: string, opts?: Record<string, unknown>) => (opts ? `${key}=${String(opts.s)}` : key);

describe("analysisTime", () => {
  it("lists the stages that run one after another, not the overlapping background ones", () => {
    const at = analysisTime({ load_models: 0.0, tissue: 0.061, detection: 1.034, detection_read: 0.4, instances: 0.9,
      focus: 1.2, classification: 0.8, after_detection: 0.512, total: 1.734 });
    expect(at).toEqual({ total: 1.734, stages: [{ stage: "tissue", seconds: 0.061 }, { stage: "detection", seconds: 1.034 },
      { stage: "after_detection", seconds: 0.512 }] });
    expect(analysisTimeLabel(at!, t)).toBe("ai.timeTotal=1.7 · ai.timeStage.tissue=0.1 · ai.timeStage.detection=1.0 · ai.timeStage.after_detection=0.5");
  });
  it("shows only the total for a pipeline without those stages, nothing without a total", () => {
    expect(analysisTime({ tissue: 0.2, tiles: 0.01, total: 12.4 })).toEqual({ total: 12.4, stages: [{ stage: "tissue", seconds: 0.2 }] });
    expect(analysisTimeLabel(analysisTime({ total: 42.26 })!, t)).toBe("ai.timeTotal=42");
    expect(analysisTime({ detection: 1 })).toBeNull();
    expect(analysisTime({ total: Number.NaN })).toBeNull();
    expect(analysisTime(undefined)).toBeNull();
  });
});
