import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { useFeature } from "../api/features";
import { notificationsApi, type NotificationOut } from "../api/planned";
import { formatDateTime } from "../lib/format";
import { ErrorMessage } from "./ErrorMessage";

type Translate = (k: string, o?: Record<string, unknown>) => string;
type NotificationText = Pick<NotificationOut, "kind" | "title"> & Partial<Pick<NotificationOut, "body" | "params">>;

const KINDS = ["alert_assigned", "alert_resolved", "alert_unassigned"];

/** The case number a notification is about: from its params, else from the English title of an older row. */
function caseNumber(n: NotificationText): string | null {
  const fromParams = n.params?.["case_number"];
  if (typeof fromParams === "string" && fromParams) return fromParams;
  return /case (\S+)$/.exec(n.title)?.[1] ?? null;
}

/**
 * A notification's title in the UI language. The server stores kind + params (and English words for API
 * clients and rows written before params existed); unknown kinds keep the server's words.
 */
export function notificationTitle(n: NotificationText, t: Translate): string {
  const num = caseNumber(n);
  if (!num || !KINDS.includes(n.kind)) return n.title;
  return t(`notification.${n.kind}`, { case: num, defaultValue: n.title });
}

/** A notification's body in the UI language from its params; the server's English body when it has none. */
export function notificationBody(n: NotificationText, t: Translate): string {
  const body = n.body ?? "";
  const p = n.params;
  if (!p || !KINDS.includes(n.kind)) return body;
  const opts: Record<string, unknown> = { defaultValue: body, interpolation: { escapeValue: false } };
  if (n.kind === "alert_assigned") {
    const fields = p["fields"];
    if (!Array.isArray(fields)) return body;
    const label = (f: unknown) => t(`report.field.${String(f)}`, { defaultValue: String(f) });
    opts.fields = fields.map(label).join(t("notification.listSeparator"));
  } else if (n.kind === "alert_resolved") {
    const reason = p["reason"];
    if (typeof reason !== "string") return body;
    opts.reason = t(`resolution.${reason}`, { defaultValue: reason });
  }
  return t(`notificationBody.${n.kind}`, opts);
}

/** Unread notifications (alerts assigned to me, outcomes of my reports); polled every 30 s. */
export function Bell() {
  const { t, i18n } = useTranslation();
  const available = useFeature("notifications");
  const [open, setOpen] = useState(false);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const ref = useRef<HTMLDivElement>(null);
  const q = useQuery({ queryKey: ["notifications"], queryFn: notificationsApi.list, enabled: available === true, refetchInterval: 30_000 });
  const markRead = useMutation({ mutationFn: (id: number) => notificationsApi.markRead(id), onSuccess: () => qc.invalidateQueries({ queryKey: ["notifications"] }) });
  const markAll = useMutation({ mutationFn: notificationsApi.markAllRead, onSuccess: () => qc.invalidateQueries({ queryKey: ["notifications"] }) });
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    window.addEventListener("mousedown", close);
    return () => window.removeEventListener("mousedown", close);
  }, [open]);
  const unread = q.data?.unread ?? 0;
  const go = (n: NotificationOut) => {
    if (!n.read_at) markRead.mutate(n.id);
    const caseId = n.payload["case_id"];
    setOpen(false);
    if (typeof caseId === "number") navigate(`/cases/${caseId}?tab=comparison`);
  };
  return (
    <div className="bell-wrap" ref={ref}>
      <button type="button" className="icon-btn bell" aria-label={unread ? t("header.notificationsUnread", { count: unread }) : t("header.notifications")}
        title={available === false ? t("header.notificationsUnavailable") : t("header.notifications")} disabled={available === false} onClick={() => setOpen((o) => !o)} data-testid="bell">
        <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z" /></svg>
        {unread ? <span className="bell-count">{unread}</span> : null}
      </button>
      {open ? (
        <div className="bell-menu" role="menu">
          <div className="bell-head">
            <strong>{t("header.notifications")}</strong>
            {unread ? <button type="button" className="btn small ghost" onClick={() => markAll.mutate()}>{t("header.markAllRead")}</button> : null}
          </div>
          {q.error ? <ErrorMessage error={q.error} compact /> : null}
          {(q.data?.items ?? []).length === 0 ? <div className="muted small pad">{t("header.noNotifications")}</div> : null}
          <ul>
            {(q.data?.items ?? []).slice(0, 20).map((n) => (
              <li key={n.id} className={n.read_at ? "read" : "unread"}>
                <button type="button" onClick={() => go(n)}>
                  <span className="n-title">{notificationTitle(n, t)}</span>
                  <span className="n-body small muted">{notificationBody(n, t)}</span>
                  <span className="n-time small muted mono">{formatDateTime(n.created_at, i18n.language)}</span>
                </button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}
