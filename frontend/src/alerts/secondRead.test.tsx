import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import type { AlertOut } from "../api/planned";
import { AlertPanel } from "./AlertPanel";

const alert: AlertOut = {
  id: 4, case_id: 1, case_number: "E2E-0001", institution_id: 1, comparison_id: 2, report_id: 10, author_id: 5, assignee_id: 6, state: "open",
  severity: "major", fields: ["adequacy", "M"], reason: null, resolution_note: null, second_read: null, second_read_at: null,
  created_at: "2026-11-01T10:00:00Z", acknowledged_at: null, resolved_at: null, resolved_by_id: null, email_status: "sent", email_error: null,
};

function server() {
  let current: AlertOut = { ...alert };
  const calls: { method: string; path: string; body: unknown }[] = [];
  const json = (b: unknown, status = 200) => new Response(JSON.stringify(b), { status, headers: { "Content-Type": "application/json" } });
  const fetchMock = vi.fn(async (input: RequestInfo | URL) => {
    const req = input as Request;
    const path = new URL(req.url).pathname;
    const text = req.method === "GET" ? "" : await req.text();
    const body = text ? JSON.parse(text) : null;
    calls.push({ method: req.method, path, body });
    if (path === "/api/reports/vocabulary") return json({ version: "1", not_assessed: { en: "", ja: "" }, axes: {} });
    if (path === "/api/alerts") return json([current]);
    if (path === "/api/notifications") return json({ items: [{ id: 9, kind: "alert_assigned", title: "t", body: "b", payload: { case_id: 1, alert_id: 4 }, created_at: "2026-11-01T10:00:00Z", read_at: null }], unread: 1 });
    if (path === "/api/notifications/9/read") return json({});
    if (path === "/api/alerts/4/acknowledge") { current = { ...current, state: "acknowledged" }; return json(current); }
    if (path === "/api/alerts/4/second-read") { current = { ...current, second_read: body, second_read_at: "2026-11-01T11:00:00Z" }; return json(current); }
    if (path === "/api/alerts/4/resolve") { current = { ...current, state: "resolved", reason: body.reason, resolution_note: body.note }; return json(current); }
    return json({ error: "not_found", detail: path }, 404);
  });
  return { fetchMock, calls };
}

describe("<AlertPanel>: the second reader's actions", () => {
  beforeEach(async () => {
    localStorage.clear();
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("acknowledge → record my own assessment (report form) → resolve with a reason", async () => {
    const { fetchMock, calls } = server();
    vi.stubGlobal("fetch", fetchMock);
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(<QueryClientProvider client={qc}><AlertPanel caseId={1} /></QueryClientProvider>);
    const user = userEvent.setup();
    const panel = await screen.findByTestId("alert-panel");
    expect(panel).toHaveTextContent("Adequacy, M (mesangial)");
    expect(screen.getByRole("button", { name: "Resolve" })).toBeDisabled(); // acknowledge first

    await user.click(screen.getByTestId("acknowledge"));
    await waitFor(() => expect(panel).toHaveAttribute("data-state", "acknowledged"));
    await waitFor(() => expect(calls.some((c) => c.path === "/api/notifications/9/read")).toBe(true));

    await user.click(screen.getByTestId("own-assessment-toggle"));
    await user.type(screen.getByLabelText("Glomeruli counted"), "8");
    await user.selectOptions(screen.getByLabelText("M (mesangial)"), "0");
    expect(JSON.parse(localStorage.getItem("glomcheck.secondRead.4")!)).toMatchObject({ n_glomeruli: "8", M: "0" }); // kept while typing
    await user.click(screen.getByTestId("record-second-read"));
    await waitFor(() => expect(screen.getByTestId("second-read-form")).toHaveTextContent("Your assessment recorded"));
    expect(calls.find((c) => c.path === "/api/alerts/4/second-read")!.body).toMatchObject({ n_glomeruli: 8, M: 0, E: null });
    expect(localStorage.getItem("glomcheck.secondRead.4")).toBeNull();

    await user.selectOptions(screen.getByLabelText("Reason"), "original_confirmed");
    await user.type(screen.getByLabelText("Note (optional)"), "agree with the report");
    await user.click(screen.getByRole("button", { name: "Resolve" }));
    await waitFor(() => expect(panel).toHaveAttribute("data-state", "resolved"));
    expect(panel).toHaveTextContent("Resolved: Original confirmed — agree with the report");
    expect(calls.find((c) => c.path === "/api/alerts/4/resolve")!.body).toEqual({ reason: "original_confirmed", note: "agree with the report" });
  });
});
