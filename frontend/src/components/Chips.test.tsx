import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import "../i18n";
import { AiStateChip, DiscrepancyBadge } from "./Chips";

describe("worklist chips", () => {
  it("AI state: analysing with percent, ready, failed in red, never analysed", () => {
    const { rerender } = render(<AiStateChip state="running" progress={0.423} />);
    expect(screen.getByText("Analysing 42%")).toHaveClass("tone-info");
    rerender(<AiStateChip state="succeeded" progress={1} />);
    expect(screen.getByText("Ready")).toHaveClass("tone-ok");
    rerender(<AiStateChip state="failed" progress={0.3} />);
    expect(screen.getByText("Failed")).toHaveClass("tone-bad");
    rerender(<AiStateChip state="none" progress={null} />);
    expect(screen.getByText("Not analysed")).toHaveClass("tone-neutral");
    rerender(<AiStateChip state="queued" />);
    expect(screen.getByText("Queued")).toBeInTheDocument();
  });
  it("major discrepancies as a red count", () => {
    const { rerender, container } = render(<DiscrepancyBadge major={2} />);
    expect(screen.getByTestId("major-badge")).toHaveTextContent("2");
    expect(screen.getByTestId("major-badge")).toHaveClass("badge", "major");
    rerender(<DiscrepancyBadge major={0} />);
    expect(screen.queryByTestId("major-badge")).toBeNull();
    expect(container).toHaveTextContent("0");
  });
});

describe("notification titles", () => {
  it("known kinds in the UI language, unknown ones as the server wrote them", async () => {
    const { notificationTitle } = await import("./Bell");
    const i18n = (await import("../i18n")).default;
    await i18n.changeLanguage("ja");
    expect(notificationTitle({ kind: "alert_assigned", title: "Second read requested: case H1-2026-0007" }, i18n.t.bind(i18n))).toBe("二次読影の依頼: 症例 H1-2026-0007");
    expect(notificationTitle({ kind: "something_new", title: "Hello" }, i18n.t.bind(i18n))).toBe("Hello");
    await i18n.changeLanguage("en");
  });
});
