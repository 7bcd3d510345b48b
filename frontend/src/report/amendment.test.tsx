import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { ReportPanel, draftKey } from "./ReportPanel";
import { amendReasonValid, canAmend, isEditable, reportMode } from "./mode";

const signedV1 = {
  id: 10, case_id: 1, version: 1, status: "signed", author_id: 5, values: { n_glomeruli: 12, M: 1, free_text: "first read" },
  supersedes_id: null, amendment_reason: null, signed_at: "2026-11-01T10:00:00Z", created_at: "2026-11-01T09:00:00Z", updated_at: "2026-11-01T10:00:00Z", not_assessed: [],
};

describe("report mode", () => {
  it("follows the latest version", () => {
    expect(reportMode(null)).toBe("new");
    expect(reportMode({ ...signedV1, status: "draft" })).toBe("draft");
    expect(reportMode(signedV1)).toBe("signed");
    expect(reportMode({ ...signedV1, id: 11, version: 2, status: "draft", supersedes_id: 10 })).toBe("amendmentDraft");
    expect(isEditable("signed")).toBe(false);
    expect(isEditable("amendmentDraft")).toBe(true);
  });
  it("offers the amendment of a signed report to its author, with a real reason", () => {
    expect(canAmend(signedV1, 5)).toBe(true);
    expect(canAmend(signedV1, 6)).toBe(false);
    expect(canAmend({ ...signedV1, status: "draft" }, 5)).toBe(false);
    expect(canAmend(signedV1, null)).toBe(false);
    expect(amendReasonValid("  ab ")).toBe(false);
    expect(amendReasonValid("typo")).toBe(true);
  });
});

/** A tiny in-memory report API behind fetch. */
function fakeServer(opts: { amendStatus?: number } = {}) {
  let latest: Record<string, unknown> = { ...signedV1 };
  const calls: { method: string; path: string; body: unknown }[] = [];
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(String(input), init);
    const path = new URL(req.url).pathname;
    const text = req.method === "GET" ? "" : await req.text();
    const body = text ? JSON.parse(text) : null;
    calls.push({ method: req.method, path, body });
    if (path === "/api/reports/vocabulary") return json({ version: "1", not_assessed: { en: "", ja: "" }, axes: {} });
    if (req.method === "GET" && path === "/api/cases/1/report") return json(latest);
    if (req.method === "GET" && path === "/api/cases/1/reports") return json([signedV1, latest]);
    if (req.method === "POST" && path === "/api/reports/10/amend") {
      if (opts.amendStatus) return json({ error: "not_latest_signed", detail: "Only the latest signed version can be amended." }, opts.amendStatus);
      latest = { ...signedV1, id: 11, version: 2, status: "draft", supersedes_id: 10, amendment_reason: body.reason, signed_at: null, values: { ...signedV1.values } };
      return json(latest, 201);
    }
    if (req.method === "PUT" && path === "/api/reports/11") {
      latest = { ...latest, values: body };
      return json(latest);
    }
    if (req.method === "POST" && path === "/api/reports/11/sign") {
      latest = { ...latest, status: "signed", signed_at: "2026-11-02T10:00:00Z" };
      return json({ report: latest, comparison_id: 3, outcome: "concordant", alert_ids: [] });
    }
    return json({ error: "not_found", detail: path }, 404);
  });
  return { fetchMock, calls };
}

function renderPanel(userId: number, onSigned = vi.fn()) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(<QueryClientProvider client={qc}><ReportPanel caseId={1} userId={userId} onSigned={onSigned} /></QueryClientProvider>);
  return onSigned;
}

describe("<ReportPanel> amendment flow", () => {
  beforeEach(async () => {
    localStorage.clear();
    await i18n.changeLanguage("en");
  });
  afterEach(() => vi.unstubAllGlobals());

  it("signed → reason → amendment draft with the signed values copied, editable", async () => {
    const { fetchMock, calls } = fakeServer();
    vi.stubGlobal("fetch", fetchMock);
    const onSigned = renderPanel(5);
    const user = userEvent.setup();
    const form = await screen.findByTestId("report-form");
    expect(form).toHaveAttribute("data-mode", "signed");
    expect(screen.getByText("Signed (version 1)")).toBeInTheDocument();
    expect(screen.getByLabelText("Glomeruli counted")).toHaveAttribute("readonly");

    await user.click(screen.getByTestId("amend"));
    const start = screen.getByTestId("amend-start");
    expect(start).toBeDisabled();
    await user.type(screen.getByLabelText("Why is the report amended?"), "Recount on review");
    expect(start).toBeEnabled();
    await user.click(start);

    await waitFor(() => expect(form).toHaveAttribute("data-mode", "amendmentDraft"));
    expect(calls.find((c) => c.path === "/api/reports/10/amend")!.body).toEqual({ reason: "Recount on review", values: null });
    expect(screen.getByText("Amendment draft (version 2)")).toBeInTheDocument();
    expect(screen.getByTestId("amendment-reason")).toHaveTextContent("Recount on review");
    const count = screen.getByLabelText("Glomeruli counted");
    expect(count).toHaveValue(12); // the signed values, copied into the new version
    expect(count).not.toHaveAttribute("readonly");

    expect(onSigned).not.toHaveBeenCalled();
  });

  it("signs the amendment and keeps version 1 as it was", async () => {
    const { fetchMock, calls } = fakeServer();
    vi.stubGlobal("fetch", fetchMock);
    const onSigned = renderPanel(5);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("amend"));
    await user.type(screen.getByLabelText("Why is the report amended?"), "Recount on review");
    await user.click(screen.getByTestId("amend-start"));
    const count = await screen.findByDisplayValue("12");
    await waitFor(() => expect(count).not.toHaveAttribute("readonly"));
    await user.clear(count);
    await user.type(count, "9");
    expect(JSON.parse(localStorage.getItem(draftKey(1))!)).toMatchObject({ n_glomeruli: "9" });
    expect(screen.getByTestId("sign")).toHaveTextContent("Sign amendment…");
    await user.click(screen.getByTestId("sign"));
    await user.click(screen.getByTestId("confirm-sign"));
    await waitFor(() => expect(onSigned).toHaveBeenCalledTimes(1));
    expect(calls.find((c) => c.method === "PUT" && c.path === "/api/reports/11")!.body).toMatchObject({ n_glomeruli: 9, M: 1, free_text: "first read" });
    expect(calls.some((c) => c.method === "PUT" && c.path === "/api/reports/10")).toBe(false); // v1 never edited
    expect(await screen.findByText("Signed (version 2)")).toBeInTheDocument();
    expect(screen.getByTestId("report-form")).toHaveAttribute("data-mode", "signed");
    expect(localStorage.getItem(draftKey(1))).toBeNull();
  });

  it("does not offer the amendment to someone else", async () => {
    vi.stubGlobal("fetch", fakeServer().fetchMock);
    renderPanel(6);
    expect(await screen.findByText("Signed (version 1)")).toBeInTheDocument();
    expect(screen.queryByTestId("amend")).toBeNull();
  });

  it("shows the server's refusal and keeps the reason typed", async () => {
    vi.stubGlobal("fetch", fakeServer({ amendStatus: 409 }).fetchMock);
    renderPanel(5);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("amend"));
    await user.type(screen.getByLabelText("Why is the report amended?"), "Recount on review");
    await user.click(screen.getByTestId("amend-start"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Only the latest signed version can be amended.");
    expect(screen.getByLabelText("Why is the report amended?")).toHaveValue("Recount on review");
    expect(screen.getByTestId("report-form")).toHaveAttribute("data-mode", "signed");
  });
});
