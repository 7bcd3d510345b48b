import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useSearchParams } from "react-router";
import { casesApi } from "../api/cases";
import { useFeature } from "../api/features";
import { CASE_STATES, type CaseSummary } from "../api/types";
import { AiStateChip, DiscrepancyBadge, StateChip } from "../components/Chips";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { formatDateTime, isTypingTarget } from "../lib/format";
import { useUploads } from "../upload/UploadProvider";
import { ModelCaveat } from "../models/ModelCaveat";

/** Filters are applied on the server when it supports them and again here, so the table never lies. */
export function filterCases(items: CaseSummary[], f: { q: string; state: string; from: string; to: string; ai?: string; major?: string }): CaseSummary[] {
  const q = f.q.trim().toLowerCase();
  return items
    .filter((c) => !q || c.number.toLowerCase().includes(q))
    .filter((c) => !f.state || c.state === f.state)
    .filter((c) => !f.from || (c.created_at ?? c.updated_at ?? "") >= f.from)
    .filter((c) => !f.to || (c.created_at ?? c.updated_at ?? "").slice(0, 10) <= f.to)
    .filter((c) => !f.ai || (c.ai_state?.state ?? "none") === f.ai)
    .filter((c) => f.major !== "1" || (c.major_discrepancies ?? 0) > 0)
    .sort((a, b) => (b.updated_at ?? "").localeCompare(a.updated_at ?? ""));
}

export function WorklistPage() {
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const uploads = useUploads();
  const available = useFeature("cases");
  const [params, setParams] = useSearchParams();
  const filters = { q: params.get("q") ?? "", state: params.get("state") ?? "", from: params.get("from") ?? "", to: params.get("to") ?? "", ai: params.get("ai") ?? "", major: params.get("major") ?? "" };
  const setFilter = (k: keyof typeof filters, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };
  const searchRef = useRef<HTMLInputElement>(null);
  const [cursor, setCursor] = useState(0);

  const cases = useQuery({
    queryKey: ["cases", filters],
    queryFn: () => casesApi.list(filters),
    enabled: available === true,
    refetchInterval: 15_000,
  });
  const rows = useMemo(() => filterCases((cases.data?.items ?? []) as CaseSummary[], filters), [cases.data, filters.q, filters.state, filters.from, filters.to, filters.ai, filters.major]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "/" && !isTypingTarget(e.target)) {
        e.preventDefault();
        searchRef.current?.focus();
        return;
      }
      if (isTypingTarget(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "ArrowDown" || e.key === "j") setCursor((c) => Math.min(rows.length - 1, c + 1));
      else if (e.key === "ArrowUp" || e.key === "k") setCursor((c) => Math.max(0, c - 1));
      else if (e.key === "Enter" && rows[cursor]) navigate(`/cases/${rows[cursor].id}`);
      else if (e.key === "u") uploads.openDrawer(null);
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [rows, cursor, navigate, uploads]);

  return (
    <div className="page worklist">
      <div className="toolbar">
        <h1>{t("worklist.title")}</h1>
        <input ref={searchRef} type="search" className="search" placeholder={t("worklist.searchPlaceholder")} aria-label={t("worklist.search")} value={filters.q} onChange={(e) => setFilter("q", e.target.value)} />
        <label className="inline-field">
          <span>{t("worklist.state")}</span>
          <select value={filters.state} onChange={(e) => setFilter("state", e.target.value)}>
            <option value="">{t("worklist.allStates")}</option>
            {CASE_STATES.map((s) => (
              <option key={s} value={s}>{t(`caseState.${s}`)}</option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>{t("worklist.aiState")}</span>
          <select value={filters.ai} onChange={(e) => setFilter("ai", e.target.value)}>
            <option value="">{t("worklist.anyAi")}</option>
            {["none", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => <option key={s} value={s}>{t(`aiState.${s}`, { defaultValue: s })}</option>)}
          </select>
        </label>
        <label className="inline-field check-field">
          <input type="checkbox" checked={filters.major === "1"} onChange={(e) => setFilter("major", e.target.checked ? "1" : "")} />
          <span>{t("worklist.majorOnly")}</span>
        </label>
        <label className="inline-field">
          <span>{t("worklist.from")}</span>
          <input type="date" value={filters.from} onChange={(e) => setFilter("from", e.target.value)} />
        </label>
        <label className="inline-field">
          <span>{t("worklist.to")}</span>
          <input type="date" value={filters.to} onChange={(e) => setFilter("to", e.target.value)} />
        </label>
        <div className="spacer" />
        <span className="muted small kbd-hint">{t("worklist.keys")}</span>
        <button type="button" className="btn primary" onClick={() => uploads.openDrawer(null)}>{t("upload.button")}</button>
      </div>
      {available === false ? (
        <NotAvailable what={t("worklist.title")} />
      ) : cases.isLoading || available === undefined ? (
        <Loading />
      ) : cases.isError ? (
        <ErrorMessage error={cases.error} />
      ) : (
        <table className="grid" data-testid="worklist">
          <thead>
            <tr>
              <th>{t("worklist.col.case")}</th>
              <th>{t("worklist.col.institution")}</th>
              <th>{t("worklist.col.stains")}</th>
              <th>{t("worklist.col.state")}</th>
              <th>{t("worklist.col.ai")}</th>
              <th title={t("worklist.col.discrepanciesHint")}>{t("worklist.col.discrepancies")}</th>
              <th>{t("worklist.col.secondReader")}</th>
              <th>{t("worklist.col.updated")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={8} className="empty">{filters.q || filters.state || filters.from || filters.to || filters.ai || filters.major ? t("worklist.noMatch") : t("worklist.empty")}</td>
              </tr>
            ) : (
              rows.map((c, i) => (
                <tr key={c.id} className={i === cursor ? "cursor" : undefined} onClick={() => navigate(`/cases/${c.id}`)} onMouseEnter={() => setCursor(i)}>
                  <td className="mono strong"><a href={`/cases/${c.id}`} onClick={(e) => { e.preventDefault(); navigate(`/cases/${c.id}`); }}>{c.number}</a></td>
                  <td>{c.institution_name ?? <span className="muted">—</span>}</td>
                  <td>{c.stains && c.stains.length ? c.stains.map((s) => <span key={s} className="stain-tag">{t(`stain.${s}`, { defaultValue: s })}</span>) : <span className="muted">—</span>}</td>
                  <td><StateChip state={c.state} /></td>
                  <td><AiStateChip state={c.ai_state?.state} progress={c.ai_state?.progress} /></td>
                  <td><DiscrepancyBadge major={c.major_discrepancies} /></td>
                  <td>{c.open_alert ? <span className="second-reader">{c.open_alert.assignee_name ?? t("worklist.unassigned")} <span className="muted small">· {t(`alertState.${c.open_alert.state}`, { defaultValue: c.open_alert.state })}</span></span> : <span className="muted">—</span>}</td>
                  <td className="mono small">{formatDateTime(c.updated_at ?? c.created_at, i18n.language)}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      )}
      {cases.data?.total !== undefined ? (
        <div className="table-footer muted small">{t("worklist.count", { count: rows.length, total: cases.data.total })} · {t("worklist.aiColumnsNote")} <ModelCaveat /></div>
      ) : null}
    </div>
  );
}
