import { describe, expect, it } from "vitest";
import { focusSummary } from "./focus";

describe("focusSummary", () => {
  it("reports a slide blurred everywhere from the job's stats", () => {
    const s = focusSummary({ stats: { focus_version: "1.1.0", slide_blurred: true, focus_reference: 0.41 } },
      [{ flags: ["out_of_focus"] }, { flags: ["out_of_focus", "edge_cut"] }]);
    expect(s).toEqual({ slideBlurred: true, outOfFocus: 2, checked: true });
  });
  it("counts flagged glomeruli on a sharp slide", () => {
    const s = focusSummary({ stats: { focus_version: "1.1.0", slide_blurred: false } }, [{ flags: [] }, { flags: ["out_of_focus"] }, {}]);
    expect(s).toEqual({ slideBlurred: false, outOfFocus: 1, checked: true });
  });
  it("says the check did not run for older results without stats", () => {
    expect(focusSummary({ n_glomeruli: 3 }, [{ flags: null }])).toEqual({ slideBlurred: false, outOfFocus: 0, checked: false });
    expect(focusSummary(null, [])).toEqual({ slideBlurred: false, outOfFocus: 0, checked: false });
  });
});
