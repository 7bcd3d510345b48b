import { describe, expect, it } from "vitest";
import { fromText, groupedKeys, settingsPayload, toText } from "./settings";

const effective = { adequacy_adequate_n: 10, reliability_min_kappa: 0.4, h_grade_cutoffs: [25, 50, 75], default_stain: "pas", not_assessable_flags: ["edge_cut", "out_of_focus"], new_knob: 3 };

describe("institution settings form", () => {
  it("round-trips values through text inputs", () => {
    expect(toText([25, 50, 75])).toBe("25, 50, 75");
    expect(fromText("25, 50,75", [25, 50, 75])).toEqual([25, 50, 75]);
    expect(fromText("edge_cut", ["edge_cut", "out_of_focus"])).toEqual(["edge_cut"]);
    expect(fromText("0.5", 0.4)).toBe(0.5);
    expect(fromText("", 0.4)).toBeNull();
  });
  it("sends the stored overrides plus what changed, minus what was reset", () => {
    const body = settingsPayload(effective, { adequacy_adequate_n: 12, default_stain: "pam" },
      { reliability_min_kappa: "0.5", h_grade_cutoffs: "25, 50, 75", adequacy_adequate_n: "12" }, new Set(["default_stain"]));
    expect(body).toEqual({ adequacy_adequate_n: 12, reliability_min_kappa: 0.5 });
  });
  it("groups keys, with unknown ones last", () => {
    const groups = groupedKeys(effective);
    expect(groups[0]).toEqual({ key: "reliability", fields: ["reliability_min_kappa"] });
    expect(groups.at(-1)).toEqual({ key: "other", fields: ["new_knob"] });
  });
});
