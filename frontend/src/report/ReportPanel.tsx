import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { reportsApi, type ReportOut, type SignOut } from "../api/planned";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/NotAvailable";
import { formatDateTime } from "../lib/format";
import { ReportFields, fromValues, loadLocal, saveLocal, toReportIn, type FormValues } from "./fields";
import { amendReasonValid, canAmend, isEditable, reportMode } from "./mode";
import { ApiError } from "../api/errors";

export const draftKey = (caseId: number) => `glomcheck.reportDraft.${caseId}`;

const INVALIDATE_AFTER_SIGN = ["assessment", "comparison", "glomeruli", "case", "cases", "alerts", "notifications", "history", "reportVersions"];

/** Earlier versions of the report chain: who signed what when, and why it was amended. */
function Versions({ caseId, current }: { caseId: number; current: ReportOut }) {
  const { t, i18n } = useTranslation();
  const q = useQuery({ queryKey: ["reportVersions", caseId, current.id, current.status], queryFn: () => reportsApi.versions(caseId), enabled: current.version > 1 });
  if (current.version <= 1 || !q.data) return null;
  return (
    <section className="subsection" data-testid="report-versions">
      <h3>{t("report.versions")}</h3>
      <ul className="plain small version-list">
        {[...q.data].sort((a, b) => b.version - a.version).map((r) => (
          <li key={r.id}>
            <span className="mono">v{r.version}</span>{" "}
            <span className={`chip ${r.status === "signed" ? "tone-ok" : "tone-warn"}`}>{r.status === "signed" ? t("report.signed") : t("report.draft")}</span>{" "}
            {r.signed_at ? <span className="muted mono">{formatDateTime(r.signed_at, i18n.language)}</span> : null}
            {r.amendment_reason ? <div className="muted">{t("report.amendmentReason")}: {r.amendment_reason}</div> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * The structured report (DOMAIN.md §4): first read, signing, and amendments. What is typed is kept
 * locally until signed, whatever happens to the network or the session. A signed version is never
 * edited: "Amend" opens version n+1 as a draft (with a reason), which is signed like the first.
 */
export function ReportPanel({ caseId, userId, onSigned }: { caseId: number; userId?: number | null; onSigned: (r: SignOut) => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const current = useQuery({ queryKey: ["report", caseId], queryFn: () => reportsApi.current(caseId) });
  const [values, setValues] = useState<FormValues | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [amendOpen, setAmendOpen] = useState(false);
  const [reason, setReason] = useState("");
  const report: ReportOut | null = current.data ?? null;
  const mode = reportMode(report);
  // Someone else's draft is shown, not edited (the API would refuse: only the author edits and signs).
  const mine = !report || userId === null || userId === undefined || report.author_id === userId;
  const editable = isEditable(mode) && mine;

  useEffect(() => {
    if (current.isLoading || values !== null) return;
    const local = loadLocal(draftKey(caseId));
    setValues(local && editable ? local : fromValues(report?.values));
  }, [current.isLoading, report, editable, caseId, values]);

  const set = (k: string, v: string) =>
    setValues((old) => {
      const next = { ...(old ?? {}), [k]: v };
      saveLocal(draftKey(caseId), next);
      return next;
    });

  const save = useMutation({
    mutationFn: async () => {
      const body = toReportIn(values ?? {});
      if (report && report.status === "draft") return reportsApi.update(report.id, body);
      try {
        return await reportsApi.create(caseId, body);
      } catch (e) {
        // Our cached view was stale (e.g. a save replayed after signing in again created the draft):
        // update the draft the server has instead of failing.
        if (!(e instanceof ApiError && e.code === "report_exists")) throw e;
        const existing = await reportsApi.current(caseId);
        if (!existing || existing.status !== "draft") throw e;
        return reportsApi.update(existing.id, body);
      }
    },
    onSuccess: (r) => qc.setQueryData(["report", caseId], r),
  });
  const sign = useMutation({
    mutationFn: async () => {
      const saved = await save.mutateAsync();
      return reportsApi.sign(saved.id);
    },
    onSuccess: (r) => {
      localStorage.removeItem(draftKey(caseId));
      setConfirming(false);
      qc.setQueryData(["report", caseId], r.report);
      setValues(fromValues(r.report.values));
      for (const k of INVALIDATE_AFTER_SIGN) void qc.invalidateQueries({ queryKey: [k] });
      onSigned(r);
    },
  });
  const amend = useMutation({
    mutationFn: () => reportsApi.amend(report!.id, reason.trim()),
    onSuccess: (draft) => {
      qc.setQueryData(["report", caseId], draft);
      const v = fromValues(draft.values);
      saveLocal(draftKey(caseId), v);
      setValues(v);
      setAmendOpen(false);
      setReason("");
      save.reset();
      void qc.invalidateQueries({ queryKey: ["history"] });
      void qc.invalidateQueries({ queryKey: ["reportVersions"] });
    },
  });

  if (current.isLoading || values === null) return <Loading />;
  if (current.error) return <ErrorMessage error={current.error} />;
  return (
    <form className="report-form" onSubmit={(e) => { e.preventDefault(); save.mutate(); }} data-testid="report-form" data-mode={mode}>
      <div className="report-status">
        {mode === "signed" ? <span className="chip tone-ok">{t("report.signedVersion", { version: report!.version })}</span>
          : mode === "amendmentDraft" ? <span className="chip tone-warn">{t("report.amendmentDraft", { version: report!.version })}</span>
          : mode === "draft" ? <span className="chip tone-warn">{t("report.draft")}</span> : <span className="chip">{t("report.new")}</span>}
        <span className="muted small">{mode === "signed" ? t("report.signedHint") : t("report.hint")}</span>
      </div>
      {mode === "amendmentDraft" && report?.amendment_reason ? (
        <div className="amend-note small" data-testid="amendment-reason"><strong>{t("report.amendmentReason")}:</strong> {report.amendment_reason}</div>
      ) : null}
      {mode === "signed" && canAmend(report, userId) ? (
        amendOpen ? (
          <div className="amend-box" data-testid="amend-box">
            <label htmlFor="amend-reason">
              <span>{t("report.amendReasonLabel")}</span>
              <textarea id="amend-reason" rows={2} value={reason} onChange={(e) => setReason(e.target.value)} placeholder={t("report.amendReasonPlaceholder")} />
            </label>
            <div className="form-actions inline">
              <button type="button" className="btn primary small" disabled={!amendReasonValid(reason) || amend.isPending} onClick={() => amend.mutate()} data-testid="amend-start">{t("report.amendStart")}</button>
              <button type="button" className="btn ghost small" onClick={() => setAmendOpen(false)}>{t("report.cancel")}</button>
              <span className="muted small">{t("report.amendHint")}</span>
            </div>
            <ErrorMessage error={amend.error} compact />
          </div>
        ) : (
          <div><button type="button" className="btn small" onClick={() => setAmendOpen(true)} data-testid="amend">{t("report.amend")}</button></div>
        )
      ) : null}
      <ReportFields values={values} onChange={set} readOnly={!editable} />
      <ErrorMessage error={save.error ?? sign.error} />
      {editable ? (
        <div className="form-actions">
          <button type="submit" className="btn" disabled={save.isPending}>{t("report.saveDraft")}</button>
          {confirming ? (
            <>
              <span className="small">{t("report.confirmSign")}</span>
              <button type="button" className="btn primary" onClick={() => sign.mutate()} disabled={sign.isPending} data-testid="confirm-sign">{t("report.signNow")}</button>
              <button type="button" className="btn ghost" onClick={() => setConfirming(false)}>{t("report.cancel")}</button>
            </>
          ) : (
            <button type="button" className="btn primary" onClick={() => setConfirming(true)} data-testid="sign">{mode === "amendmentDraft" ? t("report.signAmendment") : t("report.sign")}</button>
          )}
          {save.isSuccess && !sign.isPending ? <span className="muted small">{t("report.saved")}</span> : null}
        </div>
      ) : null}
      {report ? <Versions caseId={caseId} current={report} /> : null}
    </form>
  );
}
