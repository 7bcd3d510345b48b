import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, NavLink, useParams } from "react-router";
import { useFeature } from "../api/features";
import { adminApi, type AdminDiscrepancyQuery, type ScoreAgreement } from "../api/planned";
import { FINDINGS } from "../api/types";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { formatDateTime } from "../lib/format";
import { formatFieldValue } from "./casePanels";
import { ConfusionHeatmap, TrendChart, type Series } from "../admin/charts";
import { SettingsView } from "../admin/SettingsView";
import { ModelCaveat } from "../models/ModelCaveat";
import { ModelsView } from "../models/ModelsPage";

const SECTIONS = ["discrepancies", "agreement", "audit", "users", "settings", "models"] as const;

function Discrepancies() {
  const { t, i18n } = useTranslation();
  const [f, setF] = useState<Record<string, string>>({ since: "", until: "", severity: "", state: "", finding: "", pathologist: "", institution: "", superseded: "" });
  const users = useQuery({ queryKey: ["admin", "users"], queryFn: adminApi.users });
  const institutions = useQuery({ queryKey: ["admin", "institutions"], queryFn: adminApi.institutions });
  const query: AdminDiscrepancyQuery = {
    pathologist_id: f.pathologist ? Number(f.pathologist) : undefined,
    institution_id: f.institution ? Number(f.institution) : undefined,
    include_superseded: f.superseded ? true : undefined,
    since: f.since ? `${f.since}T00:00:00` : undefined,
    until: f.until ? `${f.until}T23:59:59` : undefined,
    severity: (f.severity || undefined) as AdminDiscrepancyQuery["severity"],
    state: (f.state || undefined) as AdminDiscrepancyQuery["state"],
    finding: f.finding || undefined,
    limit: 200,
  };
  const q = useQuery({ queryKey: ["admin", "discrepancies", query], queryFn: () => adminApi.discrepancies(query) });
  const csv: Record<string, string> = Object.fromEntries(Object.entries(query).filter(([k, v]) => v !== undefined && k !== "limit").map(([k, v]) => [k, String(v)]));
  const set = (k: string) => (e: { target: { value: string } }) => setF((o) => ({ ...o, [k]: e.target.value }));
  return (
    <>
      <div className="toolbar">
        <label className="inline-field"><span>{t("worklist.from")}</span><input type="date" value={f.since} onChange={set("since")} /></label>
        <label className="inline-field"><span>{t("worklist.to")}</span><input type="date" value={f.until} onChange={set("until")} /></label>
        <label className="inline-field"><span>{t("queue.col.severity")}</span>
          <select value={f.severity} onChange={set("severity")}><option value="">{t("admin.all")}</option>{["major", "minor", "info"].map((s) => <option key={s} value={s}>{t(`severity.${s}`)}</option>)}</select></label>
        <label className="inline-field"><span>{t("queue.col.state")}</span>
          <select value={f.state} onChange={set("state")}><option value="">{t("admin.all")}</option>{["open", "acknowledged", "resolved", "none"].map((s) => <option key={s} value={s}>{t(`alertState.${s}`, { defaultValue: t("admin.noAlert") })}</option>)}</select></label>
        <label className="inline-field"><span>{t("admin.finding")}</span>
          <select value={f.finding} onChange={set("finding")}><option value="">{t("admin.all")}</option>{FINDINGS.map((x) => <option key={x} value={x}>{t(`finding.${x}`)}</option>)}</select></label>
        <label className="inline-field"><span>{t("admin.pathologist")}</span>
          <select value={f.pathologist} onChange={set("pathologist")}><option value="">{t("admin.all")}</option>{(users.data ?? []).filter((u) => u.role === "pathologist").map((u) => <option key={u.id} value={u.id}>{u.display_name || u.email}</option>)}</select></label>
        {(institutions.data?.length ?? 0) > 1 ? (
          <label className="inline-field"><span>{t("worklist.col.institution")}</span>
            <select value={f.institution} onChange={set("institution")}><option value="">{t("admin.all")}</option>{institutions.data!.map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}</select></label>
        ) : null}
        <label className="inline-field check-field"><input type="checkbox" checked={!!f.superseded} onChange={(e) => setF((o) => ({ ...o, superseded: e.target.checked ? "1" : "" }))} /><span>{t("admin.includeSuperseded")}</span></label>
        <div className="spacer" />
        <ModelCaveat model="glom_classifier" />
        <a className="btn" href={adminApi.discrepanciesCsvUrl(csv)} download data-testid="csv-export">{t("admin.exportCsv")}</a>
      </div>
      {q.isLoading ? <Loading /> : q.error ? <ErrorMessage error={q.error} /> : (
        <table className="grid" data-testid="admin-discrepancies">
          <thead><tr><th>{t("admin.date")}</th><th>{t("queue.col.case")}</th><th>{t("queue.col.author")}</th><th>{t("comparison.field")}</th><th>{t("queue.col.severity")}</th><th>{t("admin.reportValue")}</th><th>{t("admin.aiValue")}</th><th>{t("queue.col.state")}</th></tr></thead>
          <tbody>
            {q.data!.items.length === 0 ? <tr><td colSpan={8} className="empty">{t("admin.noDiscrepancies")}</td></tr> : null}
            {q.data!.items.map((d) => (
              <tr key={d.id}>
                <td className="mono small">{formatDateTime(d.created_at, i18n.language)}</td>
                <td className="mono"><Link to={`/cases/${d.case_id}?tab=comparison`}>{d.case_number}</Link>{d.is_current ? null : <span className="chip tone-neutral superseded">{t("admin.superseded")}</span>}</td>
                <td>{d.pathologist_email}</td>
                <td>{t(`report.field.${d.field}`, { defaultValue: d.field })}{d.reliable ? "" : ` (${t("admin.unreliable")})`}</td>
                <td><span className={`badge ${d.severity}`}>{t(`severity.${d.severity}`, { defaultValue: d.severity })}</span></td>
                <td className="mono">{formatFieldValue(d.field, d.pathologist_value, t, t("report.notAssessed"))}</td>
                <td className="mono">{formatFieldValue(d.field, d.ai_value, t, t("report.notAssessed"))}</td>
                <td>{t(`alertState.${d.state}`, { defaultValue: d.state })}{d.resolution_reason ? ` · ${t(`resolution.${d.resolution_reason}`, { defaultValue: d.resolution_reason })}` : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {q.data ? <div className="table-footer muted small">{t("worklist.count", { count: q.data.items.length, total: q.data.total })}</div> : null}
    </>
  );
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "—" : `${x.toFixed(0)}%`);

function AgreementTable({ rows, title, rowTitle, colTitle, testId }: { rows: ScoreAgreement[]; title: string; rowTitle: string; colTitle: string; testId: string }) {
  const { t } = useTranslation();
  const label = (score: string) => (l: string) => (["M", "E", "S", "T", "C"].includes(score) ? `${score}${l}` : t(`report.option.${l}`, { defaultValue: t(`adequacy.${l}`, { defaultValue: l }) }));
  return (
    <section className="subsection" data-testid={testId}>
      <h3>{title}</h3>
      <table className="grid agreement-table">
        <thead><tr><th>{t("admin.score")}</th><th>N</th><th>{t("admin.percentAgreement")}</th><th className="nocase">κ</th><th className="nocase">{t("admin.kappaBar")}</th></tr></thead>
        <tbody>
          {rows.length === 0 ? <tr><td colSpan={5} className="empty">{t("admin.noData")}</td></tr> : null}
          {rows.map((r) => (
            <tr key={r.score}>
              <td>{t(`report.field.${r.score}`, { defaultValue: r.score })}</td>
              <td className="mono">{r.n}</td>
              <td className="mono">{pct(r.percent_agreement)}{r.percent_ci ? ` (${pct(r.percent_ci[0])}–${pct(r.percent_ci[1])})` : ""}</td>
              <td className="mono">{r.kappa === null || r.kappa === undefined ? "—" : r.kappa.toFixed(2)}{r.kappa_ci ? ` (${(r.kappa_ci[0] ?? 0).toFixed(2)}–${(r.kappa_ci[1] ?? 0).toFixed(2)})` : ""}</td>
              <td>
                {r.kappa !== null && r.kappa !== undefined ? (
                  <span className="kappa-bar" title={`κ ${r.kappa.toFixed(2)}`}>
                    <span className="kappa-fill" style={{ width: `${Math.max(0, r.kappa) * 100}%` }} />
                    {r.kappa_ci ? <span className="kappa-ci" style={{ left: `${Math.max(0, r.kappa_ci[0] ?? 0) * 100}%`, width: `${Math.max(0, (r.kappa_ci[1] ?? 0) - Math.max(0, r.kappa_ci[0] ?? 0)) * 100}%` }} /> : null}
                  </span>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.some((r) => r.n > 0) ? (
        <div className="heatmaps">
          {rows.filter((r) => r.n > 0).map((r) => (
            <figure key={r.score} className="heatmap-figure">
              <figcaption>{t(`report.field.${r.score}`, { defaultValue: r.score })} <span className="muted mono">n={r.n}</span></figcaption>
              <ConfusionHeatmap labels={r.labels} matrix={r.matrix} rowTitle={rowTitle} colTitle={colTitle} label={label(r.score)} />
            </figure>
          ))}
        </div>
      ) : null}
    </section>
  );
}

function Agreement() {
  const { t } = useTranslation();
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const q = useQuery({ queryKey: ["admin", "agreement", since, until], queryFn: () => adminApi.agreement(since ? `${since}T00:00:00` : undefined, until ? `${until}T23:59:59` : undefined) });
  const data = q.data;
  const months = (data?.monthly ?? []).map((m) => m.month);
  const scores = [...new Set((data?.monthly ?? []).flatMap((m) => Object.keys(m.percent_agreement)))];
  const series: Series[] = scores.map((sc) => ({ key: sc, label: t(`report.field.${sc}`, { defaultValue: sc }), values: (data?.monthly ?? []).map((m) => m.percent_agreement[sc] ?? null) }));
  const discrepantSeries: Series[] = data?.monthly.length ? [
    { key: "discrepant", label: t("admin.discrepantShare"), values: data.monthly.map((m) => (m.comparisons ? (100 * m.discrepant) / m.comparisons : null)) },
    { key: "major", label: t("admin.majorShare"), values: data.monthly.map((m) => (m.comparisons ? (100 * m.major) / m.comparisons : null)) },
  ] : [];
  return (
    <>
      <div className="toolbar">
        <label className="inline-field"><span>{t("worklist.from")}</span><input type="date" value={since} onChange={(e) => setSince(e.target.value)} /></label>
        <label className="inline-field"><span>{t("worklist.to")}</span><input type="date" value={until} onChange={(e) => setUntil(e.target.value)} /></label>
        <div className="spacer" />
        <ModelCaveat model="glom_classifier" />
      </div>
      {q.isLoading ? <Loading /> : q.error ? <ErrorMessage error={q.error} /> : (
        <>
          <p className="muted">{t("admin.comparisons", { count: data!.comparisons })}</p>
          <section className="subsection" data-testid="agreement-trend">
            <h3>{t("admin.trend")}</h3>
            <div className="trend-pair">
              <figure><figcaption>{t("admin.trendAgreement")}</figcaption><TrendChart months={months} series={series} /></figure>
              <figure><figcaption>{t("admin.trendDiscrepant")}</figcaption><TrendChart months={months} series={discrepantSeries} /></figure>
            </div>
          </section>
          <AgreementTable rows={data!.ai_vs_pathologist} title={t("admin.aiVsPathologist")} rowTitle={t("comparison.ai")} colTitle={t("comparison.pathologist")} testId="agreement-ai" />
          <AgreementTable rows={data!.pathologist_vs_second_reader} title={t("admin.pathologistVsSecond")} rowTitle={t("comparison.pathologist")} colTitle={t("admin.secondReader")} testId="agreement-second" />
        </>
      )}
    </>
  );
}

function Audit() {
  const { t, i18n } = useTranslation();
  const [action, setAction] = useState("");
  const q = useQuery({ queryKey: ["admin", "audit", action], queryFn: () => adminApi.audit(action) });
  return (
    <>
      <div className="toolbar"><input type="search" placeholder={t("admin.auditSearch")} aria-label={t("admin.auditSearch")} value={action} onChange={(e) => setAction(e.target.value)} /></div>
      {q.data ? (
        q.data.chain.ok ? (
          <p className="chip tone-ok" data-testid="audit-chain">{t("admin.chainOk", { count: q.data.chain.checked, time: q.data.chain.full_walk_at ? formatDateTime(q.data.chain.full_walk_at, i18n.language) : "—" })}</p>
        ) : (
          <p className="error" role="alert" data-testid="audit-chain">{t("admin.chainBroken", { id: q.data.chain.first_bad_id ?? "?", reason: q.data.chain.reason ?? "" })}</p>
        )
      ) : null}
      {q.isLoading ? <Loading /> : q.error ? <ErrorMessage error={q.error} /> : (
        <table className="grid">
          <thead><tr><th>{t("admin.date")}</th><th>{t("admin.action")}</th><th>{t("admin.object")}</th><th>{t("admin.actor")}</th><th>{t("admin.hash")}</th></tr></thead>
          <tbody>
            {q.data!.items.map((r) => (
              <tr key={r.id}>
                <td className="mono small">{formatDateTime(r.ts, i18n.language)}</td>
                <td className="mono">{r.action}</td>
                <td className="mono small">{r.object_type ? `${r.object_type} ${r.object_id ?? ""}` : "—"}</td>
                <td className="mono small">{r.actor_user_id ?? "—"}</td>
                <td className="mono small muted">{r.hash.slice(0, 12)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Users() {
  const { t } = useTranslation();
  const q = useQuery({ queryKey: ["admin", "users"], queryFn: adminApi.users });
  if (q.isLoading) return <Loading />;
  if (q.error) return <ErrorMessage error={q.error} />;
  return (
    <table className="grid">
      <thead><tr><th>{t("auth.email")}</th><th>{t("admin.name")}</th><th>{t("admin.role")}</th><th>{t("admin.active")}</th></tr></thead>
      <tbody>
        {q.data!.map((u) => (
          <tr key={u.id}><td>{u.email}</td><td>{u.display_name}</td><td>{t(`role.${u.role}`, { defaultValue: u.role })}</td><td>{u.is_active ? "✓" : "—"}</td></tr>
        ))}
      </tbody>
    </table>
  );
}

/** Admin area: discrepancies (filters, CSV), agreement (κ, heat maps, trends), audit log, users, settings, model cards. */
export function AdminPage() {
  const { t } = useTranslation();
  const { section = "discrepancies" } = useParams();
  const current = (SECTIONS as readonly string[]).includes(section) ? section : "discrepancies";
  const available = useFeature("admin");
  return (
    <div className="page admin">
      <nav className="sub-nav">
        {SECTIONS.map((s) => (
          <NavLink key={s} to={`/admin/${s}`} className={() => (s === current ? "active" : "")}>{t(`admin.${s}`)}</NavLink>
        ))}
      </nav>
      <div className="admin-body">
        <h1>{t(`admin.${current}`)}</h1>
        <p className="muted">{t(`admin.${current}Desc`)}</p>
        {available === false ? <NotAvailable what={t(`admin.${current}`)} /> : available === undefined ? <Loading /> : (
          current === "discrepancies" ? <Discrepancies /> :
          current === "agreement" ? <Agreement /> :
          current === "audit" ? <Audit /> :
          current === "users" ? <Users /> :
          current === "settings" ? <SettingsView /> :
          <ModelsView />
        )}
      </div>
    </div>
  );
}
