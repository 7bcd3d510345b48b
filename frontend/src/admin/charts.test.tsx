import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import "../i18n";
import { ConfusionHeatmap, TrendChart, heatColor, heatLevel, heatTextColor } from "./charts";

const rgb = (s: string) => s.match(/\d+/g)!.map(Number);
const luminance = (s: string) => {
  const [r, g, b] = rgb(s);
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
};

describe("heat-map colour scale", () => {
  it("is the panel background at zero and the full colour at the maximum", () => {
    expect(heatColor(0, 10, true)).toBe("rgb(29, 33, 38)");
    expect(heatColor(0, 10, false)).toBe("rgb(29, 33, 38)");
    expect(heatColor(10, 10, true)).toBe("rgb(76, 155, 232)"); // agreement: accent blue
    expect(heatColor(10, 10, false)).toBe("rgb(229, 72, 77)"); // disagreement: red
  });
  it("grows monotonically with the count", () => {
    const lum = [0, 1, 2, 5, 9, 20].map((n) => luminance(heatColor(n, 20, true)));
    for (let i = 1; i < lum.length; i++) expect(lum[i]!).toBeGreaterThan(lum[i - 1]!);
  });
  it("keeps a single disagreement visible beside a busy diagonal (square-root scale)", () => {
    expect(heatLevel(1, 100)).toBeCloseTo(0.1);
    expect(heatLevel(25, 100)).toBeCloseTo(0.5);
  });
  it("is safe with empty matrices and odd input", () => {
    expect(heatLevel(3, 0)).toBe(0);
    expect(heatLevel(-1, 5)).toBe(0);
    expect(heatLevel(Number.NaN, 5)).toBe(0);
    expect(heatLevel(50, 5)).toBe(1); // clamped
  });
  it("switches the text colour for contrast on dark-enough fills", () => {
    expect(heatTextColor(0, 10)).toBe("#98a0aa");
    expect(heatTextColor(10, 10)).toBe("#ffffff");
  });
});

describe("<ConfusionHeatmap>", () => {
  it("draws one cell per pair with its count, the diagonal outlined", () => {
    const { container } = render(
      <ConfusionHeatmap labels={["0", "1"]} matrix={[[5, 1], [0, 3]]} rowTitle="AI" colTitle="Pathologist" label={(l) => `M${l}`} />,
    );
    const rects = container.querySelectorAll("rect");
    expect(rects).toHaveLength(4);
    expect(rects[0]!.getAttribute("fill")).toBe("rgb(76, 155, 232)"); // the maximum, on the diagonal
    expect(rects[0]!.getAttribute("stroke")).not.toBe("none");
    expect(rects[1]!.getAttribute("stroke")).toBe("none");
    expect(rects[2]!.getAttribute("fill")).toBe("rgb(29, 33, 38)"); // zero
    expect(screen.getByRole("img")).toHaveTextContent("M0");
    expect(container.querySelector("rect title")!.textContent).toBe("AI M0 · Pathologist M0: 5");
  });
  it("says there is no data rather than drawing an empty grid", () => {
    render(<ConfusionHeatmap labels={[]} matrix={[]} rowTitle="AI" colTitle="P" label={(l) => l} />);
    expect(screen.getByText("No comparisons yet.")).toBeInTheDocument();
  });
});

describe("<TrendChart>", () => {
  it("draws a line per series and breaks it where a month has no value", () => {
    const { container } = render(
      <TrendChart months={["2026-01", "2026-02", "2026-03", "2026-04"]} series={[{ key: "M", label: "M", values: [50, 75, null, 100] }, { key: "E", label: "E", values: [100, 100, 100, 100] }]} />,
    );
    const paths = [...container.querySelectorAll("path")];
    expect(paths).toHaveLength(3); // M split in two by the gap, E whole
    expect(container.querySelectorAll("circle")).toHaveLength(7);
    expect(screen.getByText("2026-03")).toBeInTheDocument();
  });
});
