import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { useFeature } from "../api/features";
import { alertsApi } from "../api/planned";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { formatDateTime } from "../lib/format";

/** Second-read queue: my open alerts, oldest first. Wired to the alerts API once it exists. */
export function QueuePage() {
  const { t, i18n } = useTranslation();
  const available = useFeature("alerts");
  const alerts = useQuery({ queryKey: ["alerts", "mine"], queryFn: alertsApi.mine, enabled: available === true });
  return (
    <div className="page">
      <div className="toolbar"><h1>{t("queue.title")}</h1></div>
      {available === false ? (
        <NotAvailable what={t("queue.title")} note={t("queue.unavailable")} />
      ) : alerts.isLoading || available === undefined ? (
        <Loading />
      ) : alerts.isError ? (
        <ErrorMessage error={alerts.error} />
      ) : (
        <table className="grid">
          <thead>
            <tr><th>{t("queue.col.case")}</th><th>{t("queue.col.severity")}</th><th>{t("queue.col.fields")}</th><th>{t("queue.col.author")}</th><th>{t("queue.col.opened")}</th></tr>
          </thead>
          <tbody>
            {(alerts.data ?? []).length === 0 ? <tr><td colSpan={5} className="empty">{t("queue.empty")}</td></tr> : null}
            {[...(alerts.data ?? [])].sort((a, b) => a.created_at.localeCompare(b.created_at)).map((a) => (
              <tr key={a.id}>
                <td className="mono"><Link to={`/cases/${a.case_id}?tab=comparison`}>{a.case_number ?? a.case_id}</Link></td>
                <td><span className={`badge ${a.severity}`}>{t(`severity.${a.severity}`, { defaultValue: a.severity })}</span></td>
                <td>{(a.fields ?? []).join(", ")}</td>
                <td>{a.author ?? "—"}</td>
                <td className="mono small">{formatDateTime(a.created_at, i18n.language)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
