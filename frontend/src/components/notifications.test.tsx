import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { NotificationOut } from "../api/planned";
import i18n from "../i18n";
import { notificationBody, notificationTitle } from "./Bell";

const t = (k: string, o?: Record<string, unknown>) => i18n.t(k, o);

const note = (over: Partial<NotificationOut>): NotificationOut => ({
  id: 1, kind: "alert_assigned", title: "Second read requested: case H1-0007", body: "Major discrepancy in C, n_cellular_crescent.",
  params: { case_number: "H1-0007", fields: ["C", "n_cellular_crescent"] }, payload: { case_id: 3, alert_id: 9 }, read_at: null,
  created_at: "2026-11-25T10:00:00Z", ...over,
});

describe("notification text", () => {
  afterEach(async () => { await i18n.changeLanguage("en"); });

  it("phrases an assigned second read in Japanese from its params, fields by their report names", async () => {
    await i18n.changeLanguage("ja");
    const n = note({});
    expect(notificationTitle(n, t)).toBe("二次読影の依頼: 症例 H1-0007");
    expect(notificationBody(n, t)).toBe("重大な不一致: C（半月体）、細胞性半月体。");
  });

  it("phrases the outcome and the missing reader in Japanese", async () => {
    await i18n.changeLanguage("ja");
    const resolved = note({ kind: "alert_resolved", title: "Second read resolved: case R-1", body: "Reason: original_confirmed.",
      params: { case_number: "R-1", reason: "original_confirmed" } });
    expect(notificationTitle(resolved, t)).toBe("二次読影が解決: 症例 R-1");
    expect(notificationBody(resolved, t)).toBe("理由: 原報告を支持。");
    const unassigned = note({ kind: "alert_unassigned", title: "Second read needs a reader: case U-1", body: "No other pathologist of the institution is available.",
      params: { case_number: "U-1" } });
    expect(notificationTitle(unassigned, t)).toBe("二次読影者が未割当: 症例 U-1");
    expect(notificationBody(unassigned, t)).toBe("この施設には二次読影を担当できる他の病理医がいません。");
  });

  it("in English uses readable field and reason names", () => {
    expect(notificationBody(note({}), t)).toBe("Major discrepancy in C (crescents), Cellular crescents.");
    expect(notificationBody(note({ kind: "alert_resolved", body: "Reason: ai_error.", params: { case_number: "X", reason: "ai_error" } }), t)).toBe("Reason: AI error.");
  });

  it("keeps the server's words for rows without params, unknown kinds and malformed params", async () => {
    await i18n.changeLanguage("ja");
    const old = note({ params: null });
    expect(notificationBody(old, t)).toBe("Major discrepancy in C, n_cellular_crescent.");
    expect(notificationTitle(old, t)).toBe("二次読影の依頼: 症例 H1-0007"); // the title's case number still reads
    const future = note({ kind: "report_shared", title: "Report shared: case Z", body: "Someone shared it.", params: { case_number: "Z" } });
    expect(notificationTitle(future, t)).toBe("Report shared: case Z");
    expect(notificationBody(future, t)).toBe("Someone shared it.");
    expect(notificationBody(note({ params: { case_number: "H1-0007", fields: "C" } }), t)).toBe("Major discrepancy in C, n_cellular_crescent.");
    expect(notificationBody(note({ params: { case_number: "H1-0007", fields: ["brand_new_field"] } }), t)).toBe("重大な不一致: brand_new_field。");
  });
});

const me = { id: 5, email: "path1@h1.example", display_name: "Path 1", role: "pathologist", institution_id: 1, locale: "en" };
const setLocale = vi.fn(async (locale: string) => ({ ...me, locale }));
vi.mock("../api/auth", () => ({
  authApi: { me: vi.fn(async () => me), setLocale: (l: string) => setLocale(l), login: vi.fn(), logout: vi.fn() },
}));

describe("<LanguageSwitch>", () => {
  afterEach(async () => { await i18n.changeLanguage("en"); localStorage.clear(); });

  it("saves the chosen language to my account (alert e-mails follow it)", async () => {
    const { AuthProvider } = await import("../auth/AuthProvider");
    const { LanguageSwitch } = await import("./Shell");
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(<QueryClientProvider client={qc}><AuthProvider><LanguageSwitch /></AuthProvider></QueryClientProvider>);
    await waitFor(() => expect(qc.getQueryData(["me"])).toEqual(me));
    await userEvent.setup().selectOptions(screen.getByRole("combobox"), "ja");
    expect(i18n.language).toBe("ja");
    await waitFor(() => expect(setLocale).toHaveBeenCalledWith("ja"));
    await waitFor(() => expect((qc.getQueryData(["me"]) as typeof me).locale).toBe("ja"));
  });
});
