import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { HistoryList, HistoryPanel } from "./HistoryPanel";
import { detailPairs, eventTone, visibleEvents, type HistoryEvent } from "./history";

const ev = (id: number, action: string, ts: string, details: Record<string, unknown> = {}, actor: string | null = "Dr. A"): HistoryEvent => ({
  id, ts, action, actor_user_id: actor ? 1 : null, actor_name: actor, object_type: "case", object_id: "7", details,
});

const EVENTS = [
  ev(1, "case.created", "2026-11-01T09:00:00Z"),
  ev(2, "case.viewed", "2026-11-01T09:01:00Z", { part: "case" }),
  ev(3, "report.signed", "2026-11-01T10:00:00Z", { version: 1, values: { n_glomeruli: 12 } }),
  ev(4, "case.state_changed", "2026-11-01T10:00:01Z", { from: "report_signed", to: "discrepant", reason: "comparison" }, null),
  ev(5, "alert.opened", "2026-11-01T10:00:02Z", { fields: ["adequacy", "M"], assignee_id: 2 }, null),
  ev(6, "frobnicated.unknown", "2026-11-01T11:00:00Z"),
];

describe("history helpers", () => {
  it("hides views unless asked, newest first", () => {
    expect(visibleEvents(EVENTS, false).map((e) => e.id)).toEqual([6, 5, 4, 3, 1]);
    expect(visibleEvents(EVENTS, true)).toHaveLength(6);
  });
  it("keeps the scalar facts of an event and leaves nested values out", () => {
    expect(detailPairs({ from: "a", to: "b", values: { x: 1 }, fields: ["M", "E"], version: 2 })).toEqual([["from", "a"], ["to", "b"], ["version", "2"], ["fields", "M, E"]]);
  });
  it("colours failures red, signatures green, alerts amber", () => {
    expect(eventTone("analysis.failed")).toBe("bad");
    expect(eventTone("report.signed")).toBe("ok");
    expect(eventTone("alert.opened")).toBe("warn");
    expect(eventTone("case.created")).toBe("neutral");
  });
});

describe("<HistoryList>", () => {
  afterEach(() => i18n.changeLanguage("en"));
  it("renders translated actions, actors, state changes and unknown actions as they are", async () => {
    await i18n.changeLanguage("en");
    render(<HistoryList items={visibleEvents(EVENTS, false)} />);
    const items = within(screen.getByTestId("history")).getAllByRole("listitem");
    expect(items).toHaveLength(5);
    expect(items[0]).toHaveTextContent("frobnicated.unknown");
    expect(items[1]).toHaveTextContent("Second-read alert opened");
    expect(items[1]).toHaveTextContent("fields: adequacy, M");
    expect(items[2]).toHaveTextContent("Case state changed");
    expect(items[2]).toHaveTextContent("from: Report signed");
    expect(items[2]).toHaveTextContent("to: Discrepant");
    expect(items[2]).toHaveTextContent("system");
    expect(items[3]).toHaveTextContent("Report signed");
    expect(items[3]).toHaveTextContent("Dr. A");
    expect(items[3]).toHaveClass("tone-ok");
  });
  it("in Japanese", async () => {
    await i18n.changeLanguage("ja");
    render(<HistoryList items={[EVENTS[2]!]} />);
    expect(screen.getByTestId("history")).toHaveTextContent("報告書に署名");
  });
  it("says so when there is nothing", async () => {
    await i18n.changeLanguage("en");
    render(<HistoryList items={[]} />);
    expect(screen.getByText("No events yet.")).toBeInTheDocument();
  });
});

describe("<HistoryPanel>", () => {
  beforeEach(() => vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ items: EVENTS }), { status: 200, headers: { "Content-Type": "application/json" } }))));
  afterEach(() => vi.unstubAllGlobals());
  it("loads the case's trail and shows views on request", async () => {
    await i18n.changeLanguage("en");
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(<QueryClientProvider client={qc}><HistoryPanel caseId={7} /></QueryClientProvider>);
    expect(await screen.findByText("Case created")).toBeInTheDocument();
    expect(screen.queryByText("Case viewed")).toBeNull();
    await userEvent.setup().click(screen.getByLabelText("Show views (1)"));
    expect(screen.getByText("Case viewed")).toBeInTheDocument();
    const url = String((fetch as unknown as { mock: { calls: [Request][] } }).mock.calls[0]![0].url);
    expect(url).toContain("/api/cases/7/history");
  });
});
