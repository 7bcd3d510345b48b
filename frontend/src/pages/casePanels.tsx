import { useMemo } from "react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/errors";
import type { AssessmentOut, ComparisonOut } from "../api/planned";
import { ModelCaveat } from "../models/ModelCaveat";
export { ReportPanel } from "../report/ReportPanel";

/** A field's value for display: categorical values in the UI language, numbers and scores as they are. */
type Translate = (k: string, o?: Record<string, unknown>) => string;

/** A discrepancy's reason in the UI language, from its code + parameters; the server's English sentence otherwise. */
export function discrepancyReason(d: { reason: string | null; reason_data?: Record<string, unknown> | null; field: string }, t: Translate, notAssessed: string): string | null {
  const r = d.reason_data;
  const code = typeof r?.code === "string" ? r.code : null;
  if (!r || !code || !["adequacy", "categorical", "count_none", "count_beyond"].includes(code)) return d.reason;
  const finding = (k: unknown) => (typeof k === "string" ? t(`finding.${k}`, { defaultValue: k }) : t("discrepancyReason.allGlomeruli"));
  const field = (f: unknown) => t(`report.field.${String(f)}`, { defaultValue: t(`scheme.${String(f)}`, { defaultValue: String(f) }) });
  const text = t(`discrepancyReason.${code}`, {
    ...r,
    ai: formatFieldValue(d.field, r.ai, t, notAssessed),
    report: formatFieldValue(d.field, r.report, t, notAssessed),
    field: field(r.field ?? d.field),
    finding: finding(r.finding),
    findings: Array.isArray(r.findings) ? r.findings.map(finding).join(", ") : "",
    interpolation: { escapeValue: false },
  });
  return r.qualifier === "gated" || r.qualifier === "indeterminate" ? `${text}; ${t(`discrepancyReason.${r.qualifier}`)}` : text;
}

export function formatFieldValue(field: string, v: unknown, t: (k: string, o?: Record<string, unknown>) => string, notAssessed: string): string {
  if (typeof v === "string" && field === "adequacy") return t(`adequacy.${v}`, { defaultValue: v });
  if (typeof v === "string" && field === "berden") return t(`report.option.${v}`, { defaultValue: v });
  return formatValue(v, notAssessed);
}

export function formatValue(v: unknown, notAssessed: string): string {
  if (v === null || v === undefined || v === "") return notAssessed;
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(1);
  if (typeof v === "object") return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k} ${formatValue(x, notAssessed)}`).join(", ");
  return String(v);
}

/** Case-level AI assessment: every scheme with its value, computability and what is missing. */
export function AssessmentView({ assessment }: { assessment: AssessmentOut }) {
  const { t } = useTranslation();
  const notAssessed = t("report.notComputable");
  return (
    <table className="kv assessment" data-testid="assessment">
      <tbody>
        {assessment.results.map((r, i) => {
          const scheme = String(r["scheme"] ?? i);
          const computable = String(r["computable"] ?? "");
          const missing = Array.isArray(r["missing"]) ? (r["missing"] as unknown[]).map(String) : [];
          const inputs = (r["inputs"] ?? {}) as Record<string, unknown>;
          return (
            <tr key={scheme} className={`computable-${computable}`}>
              <th>{t(`scheme.${scheme}`, { defaultValue: scheme })}</th>
              <td className="mono">{formatFieldValue(scheme, r["value"], t, notAssessed)}</td>
              <td className="small muted">
                {computable && computable !== "full" ? <span className={`chip ${computable === "no" ? "tone-neutral" : "tone-warn"}`}>{t(`computable.${computable}`, { defaultValue: computable })}</span> : null}
                {missing.length ? ` ${t("ai.missing", { what: missing.join(", ") })}` : ""}
                {typeof inputs["n_assessable"] === "number" ? ` N=${String(inputs["n_assessable"])}` : ""}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

const SEVERITY_ORDER: Record<string, number> = { major: 0, minor: 1, info: 2 };

/** Pathologist | AI, one row per field; discrepant rows highlighted by severity with "show evidence". */
export function ComparisonView({ comparison, onEvidence }: { comparison: ComparisonOut; onEvidence: (ids: number[]) => void }) {
  const { t } = useTranslation();
  const notAssessed = t("report.notAssessed");
  const rows = useMemo(() => {
    const byField = new Map(comparison.discrepancies.map((d) => [d.field, d]));
    const fields = new Set<string>([...Object.keys(comparison.pairs), ...byField.keys()]);
    return [...fields].map((f) => {
      const pair = (comparison.pairs[f] ?? {}) as { ai?: unknown; pathologist?: unknown };
      const d = byField.get(f);
      return { field: f, ai: d ? d.ai_value : pair.ai, path: d ? d.pathologist_value : pair.pathologist, d };
    }).sort((a, b) => (SEVERITY_ORDER[a.d?.severity ?? ""] ?? 9) - (SEVERITY_ORDER[b.d?.severity ?? ""] ?? 9));
  }, [comparison]);
  return (
    <div className="comparison" data-testid="comparison">
      <div className="report-status">
        <span className={`chip ${comparison.outcome === "discrepant" ? "tone-bad" : "tone-ok"}`}>{t(`caseState.${comparison.outcome}`, { defaultValue: comparison.outcome })}</span>
        <span className="muted small">{t("comparison.reportVersion", { version: comparison.report_version })}</span>
        <span className="spacer" />
        <ModelCaveat model="glom_classifier" />
      </div>
      <table className="grid compare">
        <thead><tr><th>{t("comparison.field")}</th><th>{t("comparison.pathologist")}</th><th>{t("comparison.ai")}</th><th /></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.field} className={r.d ? `sev-${r.d.severity}` : "agree"} data-severity={r.d?.severity ?? "none"}>
              <td>
                {t(`report.field.${r.field}`, { defaultValue: t(`scheme.${r.field}`, { defaultValue: r.field }) })}
                {r.d ? <span className={`badge ${r.d.severity}`}>{t(`severity.${r.d.severity}`, { defaultValue: r.d.severity })}</span> : null}
                {r.d?.reason ? <div className="small muted" data-testid="discrepancy-reason">{discrepancyReason(r.d, t, notAssessed)}</div> : null}
              </td>
              <td className="mono">{formatFieldValue(r.field, r.path, t, notAssessed)}</td>
              <td className="mono">{formatFieldValue(r.field, r.ai, t, notAssessed)}</td>
              <td>{r.d && r.d.evidence_glomerulus_ids.length ? <button type="button" className="btn small" onClick={() => onEvidence(r.d!.evidence_glomerulus_ids)}>{t("comparison.showEvidence", { count: r.d.evidence_glomerulus_ids.length })}</button> : null}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function isNotReady(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}

/** Clinical data as recorded (read-only here), with the computed eGFR and its note. */
export function ClinicalView({ clinical }: { clinical: import("../api/planned").ClinicalOut }) {
  const { t } = useTranslation();
  const na = "—";
  const rows: [string, string][] = [
    ["age", clinical.age_years !== null ? `${clinical.age_years}` : na],
    ["sex", clinical.sex ? t(`clinical.sexValue.${clinical.sex}`, { defaultValue: clinical.sex }) : na],
    ["clinicalDiagnosis", clinical.clinical_diagnosis ?? na],
    ["bp", clinical.systolic_bp_mmhg !== null ? `${clinical.systolic_bp_mmhg}/${clinical.diastolic_bp_mmhg ?? "—"} mmHg` : na],
    ["creatinine", clinical.creatinine_mg_dl !== null ? `${clinical.creatinine_mg_dl} mg/dL` : na],
    ["egfr", clinical.egfr !== null && clinical.egfr !== undefined ? `${clinical.egfr.toFixed(1)} ${clinical.egfr_unit ?? ""}` : na],
    ["proteinuria", clinical.urinary_protein !== null ? `${clinical.urinary_protein} ${clinical.urinary_protein_unit ?? ""}` : na],
    ["haematuria", clinical.haematuria === null || clinical.haematuria === undefined ? na : String(clinical.haematuria)],
    ["history", clinical.history ?? na],
  ];
  return (
    <div className="clinical" data-testid="clinical">
      <table className="kv">
        <tbody>{rows.map(([k, v]) => <tr key={k}><th>{t(`clinical.${k}`)}</th><td className="mono">{v}</td></tr>)}</tbody>
      </table>
      {clinical.egfr_note ? <p className="muted small">{clinical.egfr_note}</p> : null}
      {clinical.followups?.length ? <p className="muted small">{t("clinical.followups", { count: clinical.followups.length })}</p> : null}
    </div>
  );
}
