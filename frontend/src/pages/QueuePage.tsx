import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { useFeature } from "../api/features";
import { alertsApi, type AlertOut } from "../api/planned";
import { ResolveForm, markAlertNotificationsRead } from "../alerts/AlertPanel";
import { ModelCaveat } from "../models/ModelCaveat";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { formatDateTime } from "../lib/format";

function AlertRow({ a }: { a: AlertOut }) {
  const { t, i18n } = useTranslation();
  const qc = useQueryClient();
  const [resolving, setResolving] = useState(false);
  const done = () => {
    void qc.invalidateQueries({ queryKey: ["alerts"] });
    void qc.invalidateQueries({ queryKey: ["notifications"] });
  };
  const ack = useMutation({ mutationFn: () => alertsApi.acknowledge(a.id), onSuccess: () => { done(); void markAlertNotificationsRead(qc, a.id); } });
  return (
    <>
      <tr data-testid="alert-row">
        <td className="mono"><Link to={`/cases/${a.case_id}?tab=comparison`}>{a.case_number ?? a.case_id}</Link></td>
        <td><span className={`badge ${a.severity}`}>{t(`severity.${a.severity}`, { defaultValue: a.severity })}</span></td>
        <td>{a.fields.map((f) => t(`report.field.${f}`, { defaultValue: f })).join(", ")}</td>
        <td>{a.author_name ?? "—"}</td>
        <td>{t(`alertState.${a.state}`)}</td>
        <td className="mono small">{formatDateTime(a.created_at, i18n.language)}</td>
        <td className="actions">
          {a.state === "open" ? <button type="button" className="btn small" onClick={() => ack.mutate()} disabled={ack.isPending}>{t("queue.acknowledge")}</button> : null}
          {a.state !== "resolved" ? <button type="button" className="btn small" onClick={() => setResolving((r) => !r)}>{t("queue.resolve")}</button> : null}
          <Link className="btn small ghost" to={`/cases/${a.case_id}?tab=comparison`}>{t("queue.open")}</Link>
        </td>
      </tr>
      {resolving || ack.error ? (
        <tr className="resolve-row">
          <td colSpan={7}>
            {resolving ? <ResolveForm alert={a} /> : null}
            <ErrorMessage error={ack.error} compact />
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** Second-read queue: my open alerts, oldest first; acknowledge, open the comparison, resolve with a reason. */
export function QueuePage() {
  const { t } = useTranslation();
  const available = useFeature("alerts");
  const alerts = useQuery({ queryKey: ["alerts", "mine"], queryFn: alertsApi.mine, enabled: available === true, refetchInterval: 30_000 });
  const rows = [...(alerts.data ?? [])].sort((a, b) => a.created_at.localeCompare(b.created_at));
  return (
    <div className="page">
      <div className="toolbar"><h1>{t("queue.title")}</h1><div className="spacer" /><span className="muted small">{t("queue.aiNote")}</span><ModelCaveat model="glom_classifier" /></div>
      {available === false ? (
        <NotAvailable what={t("queue.title")} note={t("queue.unavailable")} />
      ) : alerts.isLoading || available === undefined ? (
        <Loading />
      ) : alerts.isError ? (
        <ErrorMessage error={alerts.error} />
      ) : (
        <table className="grid">
          <thead>
            <tr><th>{t("queue.col.case")}</th><th>{t("queue.col.severity")}</th><th>{t("queue.col.fields")}</th><th>{t("queue.col.author")}</th><th>{t("queue.col.state")}</th><th>{t("queue.col.opened")}</th><th /></tr>
          </thead>
          <tbody>
            {rows.length === 0 ? <tr><td colSpan={7} className="empty">{t("queue.empty")}</td></tr> : null}
            {rows.map((a) => <AlertRow key={a.id} a={a} />)}
          </tbody>
        </table>
      )}
    </div>
  );
}
