import { describe, expect, it } from "vitest";
import { egfrJapanese, rangeProblem, toClinicalIn, type FieldInfo } from "./clinical";

describe("eGFR (Japanese equation)", () => {
  it("matches 194 × Cr^−1.094 × age^−0.287 (× 0.739 if female), to 0.1", () => {
    expect(egfrJapanese(1.0, 50, "male")).toBe(Math.round(194 * 50 ** -0.287 * 10) / 10);
    expect(egfrJapanese(1.2, 45, "female")).toBe(Math.round(194 * 1.2 ** -1.094 * 45 ** -0.287 * 0.739 * 10) / 10);
    expect(egfrJapanese(1.2, 45, "female")).toBe(39.4) // worked by hand: 194 × 0.8192 × 0.3354 × 0.739;
  });
  it("is not computed for children or with a missing input", () => {
    expect(egfrJapanese(0.5, 12, "male")).toBeNull();
    expect(egfrJapanese(null, 40, "male")).toBeNull();
    expect(egfrJapanese(1, 40, null)).toBeNull();
    expect(egfrJapanese(0, 40, "male")).toBeNull();
  });
});

describe("clinical form", () => {
  const fields: FieldInfo[] = [
    { field: "age_years", type: "integer", min: 0, max: 120 },
    { field: "creatinine_mg_dl", type: "number", min: 0.1, max: 30 },
    { field: "sex", type: "choice", choices: ["male", "female"] },
    { field: "egfr", type: "number", computed: true },
    { field: "history", type: "text" },
  ];
  it("sends every field (PUT replaces), empty as null, never the computed eGFR", () => {
    expect(toClinicalIn({ age_years: "45", creatinine_mg_dl: "1,2", sex: "female", history: "  " }, fields)).toEqual({ age_years: 45, creatinine_mg_dl: 1.2, sex: "female", history: null });
  });
  it("flags implausible values before the server does", () => {
    expect(rangeProblem(fields[1]!, "120")).toBe("high"); // µmol/L typed into mg/dL
    expect(rangeProblem(fields[0]!, "abc")).toBe("nan");
    expect(rangeProblem(fields[0]!, "45")).toBeNull();
  });
});
