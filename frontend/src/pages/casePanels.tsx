import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/errors";
import { reportsApi, type AssessmentOut, type ComparisonOut, type ReportIn, type ReportOut, type SignOut } from "../api/planned";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/NotAvailable";

export const COUNT_FIELDS = [
  "n_glomeruli", "n_global_sclerosis", "n_segmental_sclerosis", "n_cellular_crescent", "n_fibrocellular_crescent",
  "n_fibrous_crescent", "n_endocapillary_hypercellularity", "n_fibrinoid_necrosis",
] as const;
export const SCORE_OPTIONS: Record<string, string[]> = {
  M: ["0", "1"], E: ["0", "1"], S: ["0", "1"], T: ["0", "1", "2"], C: ["0", "1", "2"],
  h_grade: ["I", "II", "III", "IV"],
  berden: ["focal", "crescentic", "mixed", "sclerotic"],
  ln_class: ["I", "II", "III", "IV", "V", "VI", "III+V", "IV+V"],
  dn_class: ["I", "IIa", "IIb", "III", "IV"],
};
const INT_SCORES = new Set(["M", "E", "S", "T", "C"]);
const AXES = ["clinical_diagnosis", "pathogenesis", "histopathology"] as const;

export type FormValues = Record<string, string>;

/** Form strings → API body; "" means "not assessed" (null). */
export function toReportIn(v: FormValues): ReportIn {
  const out: Record<string, unknown> = {};
  for (const f of COUNT_FIELDS) out[f] = v[f] === undefined || v[f] === "" ? null : Number(v[f]);
  for (const f of Object.keys(SCORE_OPTIONS)) out[f] = !v[f] ? null : INT_SCORES.has(f) ? Number(v[f]) : v[f];
  for (const f of AXES) out[f] = v[f] || null;
  out.free_text = v.free_text?.trim() ? v.free_text : null;
  return out as ReportIn;
}

export function fromValues(values: Record<string, unknown> | null | undefined): FormValues {
  const out: FormValues = {};
  for (const [k, v] of Object.entries(values ?? {})) out[k] = v === null || v === undefined ? "" : String(v);
  return out;
}

const draftKey = (caseId: number) => `glomcheck.reportDraft.${caseId}`;

export function formatValue(v: unknown, notAssessed: string): string {
  if (v === null || v === undefined || v === "") return notAssessed;
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(1);
  if (typeof v === "object") return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k} ${formatValue(x, notAssessed)}`).join(", ");
  return String(v);
}

/** The structured report (DOMAIN.md §4). What is typed is kept locally until signed, whatever happens to the network. */
export function ReportPanel({ caseId, onSigned }: { caseId: number; onSigned: (r: SignOut) => void }) {
  const { t, i18n } = useTranslation();
  const qc = useQueryClient();
  const lang = i18n.language === "ja" ? "ja" : "en";
  const vocab = useQuery({ queryKey: ["vocabulary"], queryFn: reportsApi.vocabulary, staleTime: Infinity });
  const current = useQuery({ queryKey: ["report", caseId], queryFn: () => reportsApi.current(caseId) });
  const [values, setValues] = useState<FormValues | null>(null);
  const [confirming, setConfirming] = useState(false);
  const report: ReportOut | null = current.data ?? null;
  const signed = report?.status === "signed";

  useEffect(() => {
    if (current.isLoading || values !== null) return;
    const local = localStorage.getItem(draftKey(caseId));
    setValues(local && !signed ? (JSON.parse(local) as FormValues) : fromValues(report?.values));
  }, [current.isLoading, report, signed, caseId, values]);

  const set = (k: string, v: string) =>
    setValues((old) => {
      const next = { ...(old ?? {}), [k]: v };
      localStorage.setItem(draftKey(caseId), JSON.stringify(next));
      return next;
    });

  const save = useMutation({
    mutationFn: async () => {
      const body = toReportIn(values ?? {});
      return report && report.status === "draft" ? reportsApi.update(report.id, body) : reportsApi.create(caseId, body);
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
      for (const k of ["assessment", "comparison", "glomeruli", "case", "cases", "alerts", "notifications"]) void qc.invalidateQueries({ queryKey: [k] });
      onSigned(r);
    },
  });

  if (current.isLoading || values === null) return <Loading />;
  if (current.error) return <ErrorMessage error={current.error} />;
  const notAssessed = t("report.notAssessed");
  const ro = signed;
  const sel = (k: string, options: { value: string; label: string }[]) => (
    <select id={`r-${k}`} value={values[k] ?? ""} disabled={ro} onChange={(e) => set(k, e.target.value)}>
      <option value="">{notAssessed}</option>
      {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
    </select>
  );
  return (
    <form className="report-form" onSubmit={(e) => { e.preventDefault(); save.mutate(); }} data-testid="report-form">
      <div className="report-status">
        {signed ? <span className="chip tone-ok">{t("report.signedVersion", { version: report!.version })}</span>
          : report ? <span className="chip tone-warn">{t("report.draft")}</span> : <span className="chip">{t("report.new")}</span>}
        <span className="muted small">{t("report.hint")}</span>
      </div>
      <fieldset>
        <legend>{t("report.counts")}</legend>
        <div className="form-grid">
          {COUNT_FIELDS.map((f) => (
            <label key={f} htmlFor={`r-${f}`}>
              <span>{t(`report.field.${f}`)}</span>
              <input id={`r-${f}`} type="number" min={0} inputMode="numeric" placeholder="—" value={values[f] ?? ""} readOnly={ro} onChange={(e) => set(f, e.target.value)} />
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset>
        <legend>{t("report.scores")}</legend>
        <div className="form-grid">
          {Object.entries(SCORE_OPTIONS).map(([f, opts]) => (
            <label key={f} htmlFor={`r-${f}`}>
              <span>{t(`report.field.${f}`)}</span>
              {sel(f, opts.map((o) => ({ value: o, label: INT_SCORES.has(f) ? `${f}${o}` : t(`report.option.${o}`, { defaultValue: o }) })))}
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset>
        <legend>{t("report.diagnosis")}</legend>
        {vocab.error ? <ErrorMessage error={vocab.error} compact /> : null}
        {AXES.map((a) => {
          const axis = vocab.data?.axes[a];
          return (
            <label key={a} htmlFor={`r-${a}`} className="wide">
              <span>{axis ? axis.label[lang] : t(`report.field.${a}`)}</span>
              {sel(a, (axis?.terms ?? []).map((term) => ({ value: term.code, label: term[lang] })))}
            </label>
          );
        })}
        <label htmlFor="r-free_text" className="wide">
          <span>{t("report.field.free_text")}</span>
          <textarea id="r-free_text" rows={3} value={values.free_text ?? ""} readOnly={ro} onChange={(e) => set("free_text", e.target.value)} />
        </label>
      </fieldset>
      <ErrorMessage error={save.error ?? sign.error} />
      {!ro ? (
        <div className="form-actions">
          <button type="submit" className="btn" disabled={save.isPending}>{t("report.saveDraft")}</button>
          {confirming ? (
            <>
              <span className="small">{t("report.confirmSign")}</span>
              <button type="button" className="btn primary" onClick={() => sign.mutate()} disabled={sign.isPending} data-testid="confirm-sign">{t("report.signNow")}</button>
              <button type="button" className="btn ghost" onClick={() => setConfirming(false)}>{t("report.cancel")}</button>
            </>
          ) : (
            <button type="button" className="btn primary" onClick={() => setConfirming(true)} data-testid="sign">{t("report.sign")}</button>
          )}
          {save.isSuccess && !sign.isPending ? <span className="muted small">{t("report.saved")}</span> : null}
        </div>
      ) : null}
    </form>
  );
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
              <td className="mono">{formatValue(r["value"], notAssessed)}</td>
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
      </div>
      <table className="grid compare">
        <thead><tr><th>{t("comparison.field")}</th><th>{t("comparison.pathologist")}</th><th>{t("comparison.ai")}</th><th /></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.field} className={r.d ? `sev-${r.d.severity}` : "agree"} data-severity={r.d?.severity ?? "none"}>
              <td>
                {t(`report.field.${r.field}`, { defaultValue: t(`scheme.${r.field}`, { defaultValue: r.field }) })}
                {r.d ? <span className={`badge ${r.d.severity}`}>{t(`severity.${r.d.severity}`, { defaultValue: r.d.severity })}</span> : null}
                {r.d?.reason ? <div className="small muted">{r.d.reason}</div> : null}
              </td>
              <td className="mono">{formatValue(r.path, notAssessed)}</td>
              <td className="mono">{formatValue(r.ai, notAssessed)}</td>
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
  const na = t("report.notAssessed");
  const rows: [string, string][] = [
    ["age", clinical.age_years !== null ? `${clinical.age_years}` : na],
    ["sex", clinical.sex ? t(`clinical.sexValue.${clinical.sex}`, { defaultValue: clinical.sex }) : na],
    ["clinicalDiagnosis", clinical.clinical_diagnosis ?? na],
    ["bp", clinical.systolic_bp_mmhg !== null ? `${clinical.systolic_bp_mmhg}/${clinical.diastolic_bp_mmhg ?? "—"} mmHg` : na],
    ["creatinine", clinical.creatinine_mg_dl !== null ? `${clinical.creatinine_mg_dl} mg/dL` : na],
    ["egfr", clinical.egfr !== null && clinical.egfr !== undefined ? `${clinical.egfr.toFixed(1)} ${clinical.egfr_unit ?? ""}` : na],
    ["proteinuria", clinical.urinary_protein !== null ? `${clinical.urinary_protein} ${clinical.urinary_protein_unit ?? ""}` : na],
    ["haematuria", clinical.haematuria === null ? na : clinical.haematuria ? t("clinical.yes") : t("clinical.no")],
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
