import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../api/client";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/NotAvailable";
import { formatDateTime } from "../lib/format";
import { detailPairs, eventTone, visibleEvents, type HistoryEvent } from "./history";

export const historyApi = {
  get: (caseId: number) => unwrap(api.GET("/api/cases/{case_id}/history", { params: { path: { case_id: caseId }, query: { limit: 1000 } } })) as Promise<{ items: HistoryEvent[] }>,
};

/** A translated name for an audit action, falling back to the action itself. */
export function actionLabel(t: (k: string, o?: Record<string, unknown>) => string, action: string): string {
  return t(`history.action.${action.replace(/\./g, "_")}`, { defaultValue: action });
}

export function HistoryList({ items }: { items: HistoryEvent[] }) {
  const { t, i18n } = useTranslation();
  if (!items.length) return <div className="panel-empty muted">{t("history.empty")}</div>;
  return (
    <ol className="history" data-testid="history">
      {items.map((ev) => {
        const pairs = detailPairs(ev.details);
        return (
          <li key={ev.id} className={`history-event tone-${eventTone(ev.action)}`} data-action={ev.action}>
            <div className="history-head">
              <span className="history-action">{actionLabel(t, ev.action)}</span>
              <span className="muted small mono">{formatDateTime(ev.ts, i18n.language)}</span>
            </div>
            <div className="small muted">
              {ev.actor_name ?? (ev.actor_user_id === null ? t("history.system") : `#${ev.actor_user_id}`)}
              {ev.object_type ? <span className="mono"> · {ev.object_type} {ev.object_id ?? ""}</span> : null}
            </div>
            {pairs.length ? (
              <div className="history-details small">
                {pairs.map(([k, v]) => (
                  <span key={k}><span className="muted">{t(`history.key.${k}`, { defaultValue: k })}:</span> {k === "from" || k === "to" || k === "outcome" ? t(`caseState.${v}`, { defaultValue: v }) : k === "reason" ? t(`resolution.${v}`, { defaultValue: v }) : v}</span>
                ))}
              </div>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}

/** The case's audit trail (newest first); views of the case are hidden unless asked for. */
export function HistoryPanel({ caseId }: { caseId: number }) {
  const { t } = useTranslation();
  const [showViews, setShowViews] = useState(false);
  const q = useQuery({ queryKey: ["history", caseId], queryFn: () => historyApi.get(caseId) });
  if (q.isLoading) return <Loading />;
  if (q.error) return <ErrorMessage error={q.error} />;
  const all = q.data?.items ?? [];
  const items = visibleEvents(all, showViews);
  return (
    <div className="history-panel">
      <div className="report-status">
        <label className="check-field small">
          <input type="checkbox" checked={showViews} onChange={(e) => setShowViews(e.target.checked)} />
          <span>{t("history.showViews", { count: all.length - visibleEvents(all, false).length })}</span>
        </label>
      </div>
      <HistoryList items={items} />
    </div>
  );
}
