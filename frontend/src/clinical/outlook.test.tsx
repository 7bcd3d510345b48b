import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import i18n from "../i18n";
import type { OutlookOut } from "../api/planned";
import { OutlookView, outlookCaveat } from "./ClinicalPanel";

const base: OutlookOut = {
  case_id: 1, computable: true, prediction_g_per_day: 0.84, interval_g_per_day: { low: 0.31, high: 2.05, level: 0.8 }, horizon_months: 12,
  missing: [], missing_detail: [], inputs: {}, model: { name: "proteinuria-outlook" }, synthetic_cohort: true,
  caveat: "SYNTHETIC MODEL: fitted on a computer-generated cohort, not on patients.",
};

describe("<OutlookView>", () => {
  it("shows the prediction with its interval, the synthetic-cohort caveat and the link to the card", async () => {
    await i18n.changeLanguage("en");
    render(<MemoryRouter><OutlookView outlook={base} /></MemoryRouter>);
    const o = screen.getByTestId("outlook");
    expect(o).toHaveTextContent("Proteinuria outlook (12 months)");
    expect(o).toHaveTextContent("0.84 g/day");
    expect(o).toHaveTextContent("80% interval 0.31–2.05 g/day");
    expect(screen.getByTestId("outlook-caveat")).toHaveTextContent("Fitted on a synthetic cohort.");
    expect(screen.getByTestId("outlook-caveat")).toHaveTextContent("SYNTHETIC MODEL");
    expect(screen.getByRole("link", { name: "see card" })).toHaveAttribute("href", "/models#proteinuria");
  });
  it("when not computable, says what is missing (translated) and never shows a number", async () => {
    await i18n.changeLanguage("ja");
    render(<MemoryRouter><OutlookView outlook={{ ...base, computable: false, prediction_g_per_day: null, interval_g_per_day: null, missing: ["egfr", "new_input"], missing_detail: ["clinical data: eGFR", "something new"] }} /></MemoryRouter>);
    const missing = screen.getByTestId("outlook-missing");
    expect(missing).toHaveTextContent("臨床情報: eGFR");
    expect(missing).toHaveTextContent("something new"); // the server's words when the UI has no translation
    expect(screen.getByTestId("outlook")).not.toHaveTextContent("g/日");
    await i18n.changeLanguage("en");
  });
  it("shows the caveat in Japanese from its codes, saying as plainly that the cohort is synthetic", async () => {
    await i18n.changeLanguage("ja");
    const o = { ...base, caveat: CARD + " " + GENERIC, caveat_data: [{ code: "synthetic_cohort_v1" }, { code: "research_estimate", months: 12 }] };
    render(<MemoryRouter><OutlookView outlook={o} /></MemoryRouter>);
    const caveat = screen.getByTestId("outlook-caveat");
    expect(caveat).toHaveTextContent("合成コホートで作成されたモデルです。");
    expect(caveat).toHaveTextContent("合成モデル: 実在の患者ではなく、コンピュータで生成したコホート（models/training/cohort.py）で作成されたモデルです。");
    expect(caveat).toHaveTextContent("いかなる患者の診療にも用いてはなりません");
    expect(caveat).toHaveTextContent("生検12か月後の尿蛋白の研究用推定値");
    expect(caveat).not.toHaveTextContent("SYNTHETIC");
    await i18n.changeLanguage("en");
  });
});

const CARD = "SYNTHETIC MODEL: fitted on a computer-generated cohort (models/training/cohort.py), not on patients. Its numbers demonstrate the pipeline only and must not inform the care of any patient.";
const GENERIC = "Research estimate of urinary protein 12 months after biopsy, for a population like the model's cohort; treatment is not taken into account. It does not replace clinical judgement.";

describe("outlookCaveat", () => {
  const t = (k: string, o?: Record<string, unknown>) => i18n.t(k, o);
  it("in English reads exactly like the server's sentence", async () => {
    await i18n.changeLanguage("en");
    expect(outlookCaveat({ caveat: CARD + " " + GENERIC, caveat_data: [{ code: "synthetic_cohort_v1" }, { code: "research_estimate", months: 12 }] }, t)).toBe(CARD + " " + GENERIC);
  });
  it("shows a card caveat it has no translation for in the card's words, and falls back whole on unknown codes", async () => {
    await i18n.changeLanguage("ja");
    expect(outlookCaveat({ caveat: "x", caveat_data: [{ code: "card_text", text: "SYNTHETIC v2: another cohort." }, { code: "research_estimate", months: 12 }] }, t))
      .toBe("SYNTHETIC v2: another cohort. 生検12か月後の尿蛋白の研究用推定値であり、モデルのコホートに類似した集団を想定しています。治療の影響は考慮していません。臨床判断に代わるものではありません。");
    expect(outlookCaveat({ caveat: "The server's words.", caveat_data: [{ code: "synthetic_cohort_v2" }] }, t)).toBe("The server's words.");
    expect(outlookCaveat({ caveat: "The server's words." }, t)).toBe("The server's words.");
    await i18n.changeLanguage("en");
  });
});
