import { afterEach, describe, expect, it } from "vitest";
import i18n from "../i18n";
import { discrepancyReason } from "./casePanels";

const t = (k: string, o?: Record<string, unknown>) => i18n.t(k, o);

describe("discrepancyReason", () => {
  afterEach(async () => { await i18n.changeLanguage("en"); });

  it("phrases a count reason in Japanese from its code and parameters", async () => {
    await i18n.changeLanguage("ja");
    const d = { field: "n_cellular_crescent", reason: "AI finds 2 glomeruli with cellular crescent; the report records none",
      reason_data: { code: "count_none", ai: 2, report: 0, finding: "cellular_crescent", qualifier: null } };
    const text = discrepancyReason(d, t, "—");
    expect(text).toContain("細胞性半月体");
    expect(text).toContain("2個");
    expect(text).not.toMatch(/AI finds/);
  });

  it("translates categories and qualifiers, and keeps English in English", async () => {
    const d = { field: "adequacy", reason: "x", reason_data: { code: "adequacy", ai: "adequate", report: "minimal", minimal_n: 8, adequate_n: 10, qualifier: "indeterminate" } };
    expect(discrepancyReason(d, t, "—")).toBe("adequacy: AI Adequate vs report Minimal (thresholds 8/10 glomeruli); rests only on indeterminate glomeruli".replace("Adequate", i18n.t("adequacy.adequate")).replace("Minimal", i18n.t("adequacy.minimal")));
    await i18n.changeLanguage("ja");
    const ja = discrepancyReason(d, t, "—") ?? "";
    expect(ja).toContain(i18n.t("adequacy.adequate"));
    expect(ja).toContain("判定保留");
  });

  it("falls back to the server's sentence for rows written before reason codes, or unknown codes", () => {
    expect(discrepancyReason({ field: "M", reason: "M: AI 1 vs report 0", reason_data: null }, t, "—")).toBe("M: AI 1 vs report 0");
    expect(discrepancyReason({ field: "M", reason: "old", reason_data: { code: "future_code" } }, t, "—")).toBe("old");
  });
});
