import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { alertsApi, notificationsApi, type AlertOut, type NotificationOut, type ResolutionReason } from "../api/planned";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatDateTime } from "../lib/format";
import { ReportFields, fromValues, loadLocal, saveLocal, toReportIn, type FormValues } from "../report/fields";

export const REASONS: ResolutionReason[] = ["ai_error", "report_amended", "original_confirmed", "indeterminate"];

const secondReadKey = (alertId: number) => `glomcheck.secondRead.${alertId}`;

/** Acting on an alert answers its notification: mark the ones about this alert read (best effort). */
export async function markAlertNotificationsRead(qc: QueryClient, alertId: number): Promise<void> {
  const cached = qc.getQueryData<{ items: NotificationOut[] }>(["notifications"]);
  const list = cached ?? (await notificationsApi.list().catch(() => null));
  const unread = (list?.items ?? []).filter((n) => !n.read_at && n.payload["alert_id"] === alertId);
  await Promise.all(unread.map((n) => notificationsApi.markRead(n.id).catch(() => undefined)));
  if (unread.length) await qc.invalidateQueries({ queryKey: ["notifications"] });
}

function useAlertInvalidation() {
  const qc = useQueryClient();
  return () => {
    for (const k of ["alerts", "notifications", "case", "cases", "history"]) void qc.invalidateQueries({ queryKey: [k] });
  };
}

/** Resolve with one of the four reasons (DOMAIN.md §5) and an optional note. */
export function ResolveForm({ alert }: { alert: AlertOut }) {
  const { t } = useTranslation();
  const done = useAlertInvalidation();
  const [reason, setReason] = useState<ResolutionReason | "">("");
  const [note, setNote] = useState("");
  const resolve = useMutation({ mutationFn: () => alertsApi.resolve(alert.id, reason as ResolutionReason, note), onSuccess: done });
  return (
    <form className="resolve-form" data-testid="resolve-form" onSubmit={(e) => { e.preventDefault(); if (reason) resolve.mutate(); }}>
      <select value={reason} onChange={(e) => setReason(e.target.value as ResolutionReason)} aria-label={t("queue.reason")} required>
        <option value="">{t("queue.chooseReason")}</option>
        {REASONS.map((r) => <option key={r} value={r}>{t(`resolution.${r}`)}</option>)}
      </select>
      <input value={note} onChange={(e) => setNote(e.target.value)} placeholder={t("queue.note")} aria-label={t("queue.note")} />
      <button type="submit" className="btn small primary" disabled={!reason || resolve.isPending || alert.state !== "acknowledged"}
        title={alert.state === "open" ? t("alert.acknowledgeFirst") : undefined}>{t("queue.resolveNow")}</button>
      <ErrorMessage error={resolve.error} compact />
    </form>
  );
}

/**
 * The second reader's own assessment, in the report's own form. Kept on this computer until recorded,
 * so an expired session or a lost connection loses nothing.
 */
export function SecondReadForm({ alert }: { alert: AlertOut }) {
  const { t, i18n } = useTranslation();
  const qc = useQueryClient();
  const [values, setValues] = useState<FormValues>(() => loadLocal(secondReadKey(alert.id)) ?? fromValues(alert.second_read));
  const readOnly = alert.state === "resolved";
  const save = useMutation({
    mutationFn: () => alertsApi.recordSecondRead(alert.id, toReportIn(values)),
    onSuccess: (a) => {
      localStorage.removeItem(secondReadKey(alert.id));
      qc.setQueryData(["alerts", "case", alert.case_id], (old: AlertOut[] | undefined) => old?.map((x) => (x.id === a.id ? a : x)));
      void qc.invalidateQueries({ queryKey: ["alerts"] });
      void qc.invalidateQueries({ queryKey: ["history"] });
    },
  });
  const set = (k: string, v: string) => setValues((old) => {
    const next = { ...old, [k]: v };
    saveLocal(secondReadKey(alert.id), next);
    return next;
  });
  return (
    <form className="report-form second-read-form" data-testid="second-read-form" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
      <div className="report-status">
        {alert.second_read_at ? <span className="chip tone-ok">{t("alert.secondReadRecorded", { time: formatDateTime(alert.second_read_at, i18n.language) })}</span> : <span className="chip">{t("alert.secondReadNone")}</span>}
        <span className="muted small">{t("alert.secondReadHint")}</span>
      </div>
      <ReportFields values={values} onChange={set} readOnly={readOnly} idPrefix="sr" />
      <ErrorMessage error={save.error} />
      {!readOnly ? (
        <div className="form-actions">
          <button type="submit" className="btn primary" disabled={save.isPending} data-testid="record-second-read">{t("alert.recordSecondRead")}</button>
          {save.isSuccess ? <span className="muted small">{t("alert.secondReadSaved")}</span> : null}
        </div>
      ) : null}
    </form>
  );
}

/** On the case page of a case with an alert assigned to me: acknowledge, record my own read, resolve. */
export function AlertPanel({ caseId }: { caseId: number }) {
  const { t, i18n } = useTranslation();
  const done = useAlertInvalidation();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ["alerts", "case", caseId], queryFn: () => alertsApi.forCase(caseId) });
  const [ownOpen, setOwnOpen] = useState(false);
  const alerts = q.data ?? [];
  const alert = alerts.find((a) => a.state !== "resolved") ?? alerts[alerts.length - 1];
  const ack = useMutation({
    mutationFn: () => alertsApi.acknowledge(alert!.id),
    onSuccess: (a) => {
      done();
      void markAlertNotificationsRead(qc, a.id);
    },
  });
  if (q.error) return <ErrorMessage error={q.error} compact />;
  if (!alert) return null;
  return (
    <section className={`alert-panel state-${alert.state}`} data-testid="alert-panel" data-state={alert.state}>
      <header>
        <span className={`badge ${alert.severity}`}>{t(`severity.${alert.severity}`, { defaultValue: alert.severity })}</span>
        <strong>{t("alert.title")}</strong>
        <span className="chip">{t(`alertState.${alert.state}`)}</span>
        <span className="spacer" />
        <span className="muted small mono">{formatDateTime(alert.created_at, i18n.language)}</span>
      </header>
      <div className="small">{t("queue.col.fields")}: {alert.fields.map((f) => t(`report.field.${f}`, { defaultValue: f })).join(", ")}</div>
      {alert.state === "resolved" ? (
        <div className="small">{t("alert.resolvedAs", { reason: t(`resolution.${alert.reason ?? ""}`, { defaultValue: alert.reason ?? "" }) })}{alert.resolution_note ? ` — ${alert.resolution_note}` : ""}</div>
      ) : (
        <div className="alert-actions">
          {alert.state === "open" ? <button type="button" className="btn small primary" onClick={() => ack.mutate()} disabled={ack.isPending} data-testid="acknowledge">{t("queue.acknowledge")}</button> : null}
          <button type="button" className="btn small" aria-expanded={ownOpen} onClick={() => setOwnOpen((o) => !o)} data-testid="own-assessment-toggle">{t("alert.ownAssessment")}</button>
        </div>
      )}
      <ErrorMessage error={ack.error} compact />
      {ownOpen || (alert.state === "resolved" && alert.second_read) ? <SecondReadForm alert={alert} /> : null}
      {alert.state !== "resolved" ? <ResolveForm alert={alert} /> : null}
    </section>
  );
}
