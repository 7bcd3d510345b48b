import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import i18n from "../i18n";
import type { OutlookOut } from "../api/planned";
import { OutlookView } from "./ClinicalPanel";

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
});
