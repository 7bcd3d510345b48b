import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { clinicalApi, type ClinicalIn, type ClinicalOut, type OutlookOut } from "../api/planned";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/NotAvailable";
import { formatDateTime } from "../lib/format";
import { ModelCaveat } from "../models/ModelCaveat";
import { ClinicalView } from "../pages/casePanels";
import { loadLocal, saveLocal } from "../report/fields";
import { egfrJapanese, fromClinical, rangeProblem, toClinicalIn, type FieldInfo } from "./clinical";

const draftKey = (caseId: number) => `glomcheck.clinicalDraft.${caseId}`;
const num = (s: string | undefined) => (s === undefined || s.trim() === "" ? null : Number(s.replace(",", ".")));

/** The baseline record, fields (units, ranges, choices) from the server's catalogue; eGFR computed as you type. */
function ClinicalForm({ caseId, fields, clinical, onDone }: { caseId: number; fields: FieldInfo[]; clinical: ClinicalOut | null; onDone: () => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const [form, setForm] = useState<Record<string, string>>(() => loadLocal(draftKey(caseId)) ?? fromClinical(clinical as unknown as Record<string, unknown>, fields));
  const set = (k: string, v: string) => setForm((f) => {
    const next = { ...f, [k]: v };
    saveLocal(draftKey(caseId), next);
    return next;
  });
  const save = useMutation({
    mutationFn: () => clinicalApi.put(caseId, toClinicalIn(form, fields) as ClinicalIn),
    onSuccess: (r) => {
      localStorage.removeItem(draftKey(caseId));
      qc.setQueryData(["clinical", caseId], r);
      void qc.invalidateQueries({ queryKey: ["outlook", caseId] });
      void qc.invalidateQueries({ queryKey: ["history"] });
      onDone();
    },
  });
  const egfr = egfrJapanese(num(form.creatinine_mg_dl), num(form.age_years), form.sex || null);
  const label = (f: FieldInfo) => t(`clinical.field.${f.field}`, { defaultValue: f.field });
  return (
    <form className="clinical-form report-form" data-testid="clinical-form" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
      <div className="form-grid">
        {fields.map((f) => {
          const id = `c-${f.field}`;
          const problem = rangeProblem(f, form[f.field]);
          const unit = f.field === "urinary_protein" ? null : f.unit;
          if (f.computed) {
            return (
              <div key={f.field} className="field-cell" title={f.formula}>
                <label htmlFor={id}>{label(f)} <span className="unit">{f.unit}</span></label>
                <output id={id} className="computed mono" data-testid="egfr-preview" aria-describedby={`${id}-hint`}>{egfr !== null ? egfr.toFixed(1) : "—"}</output>
                <span className="hint" id={`${id}-hint`}>{egfr === null ? t("clinical.egfrNeeds") : t("clinical.computed")}</span>
              </div>
            );
          }
          const wide = f.type === "text" && (f.max_length ?? 0) > 200;
          return (
            <div key={f.field} className={`field-cell${wide ? " span2" : ""}`}>
              <label htmlFor={id}>{label(f)}{unit ? <span className="unit"> {unit}</span> : null}</label>
              {f.type === "choice" ? (
                <select id={id} value={form[f.field] ?? ""} onChange={(e) => set(f.field, e.target.value)}>
                  <option value="">{t("report.notAssessed")}</option>
                  {(f.choices ?? []).map((c) => <option key={c} value={c}>{t(`clinical.choice.${f.field}.${c}`, { defaultValue: c })}</option>)}
                </select>
              ) : wide ? (
                <textarea id={id} rows={2} value={form[f.field] ?? ""} maxLength={f.max_length} onChange={(e) => set(f.field, e.target.value)} />
              ) : (
                <input id={id} type={f.type === "date" ? "date" : "text"} inputMode={f.type === "integer" ? "numeric" : f.type === "number" ? "decimal" : undefined}
                  value={form[f.field] ?? ""} maxLength={f.max_length} aria-invalid={problem ? true : undefined} aria-describedby={f.min !== undefined ? `${id}-hint` : undefined}
                  onChange={(e) => set(f.field, e.target.value)} />
              )}
              {f.min !== undefined && f.max !== undefined ? (
                <span id={`${id}-hint`} className={`hint${problem ? " bad" : ""}`}>{problem === "nan" ? t("clinical.notANumber") : t("clinical.range", { min: f.min, max: f.max })}</span>
              ) : null}
            </div>
          );
        })}
      </div>
      <ErrorMessage error={save.error} />
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={save.isPending} data-testid="clinical-save">{t("clinical.save")}</button>
        <button type="button" className="btn ghost" onClick={() => { localStorage.removeItem(draftKey(caseId)); onDone(); }}>{t("report.cancel")}</button>
        <span className="muted small">{t("clinical.keptLocally")}</span>
      </div>
    </form>
  );
}

const CAVEAT_CODES = ["synthetic_cohort_v1", "research_estimate"];

/**
 * The outlook's caveat in the UI language, from its parts (codes + parameters). A card caveat the UI has
 * no translation for comes as ``card_text`` and is shown in the card's own words; without parts (an older
 * server) or with an unknown code, the server's English sentence is shown whole.
 */
export function outlookCaveat(o: Pick<OutlookOut, "caveat" | "caveat_data">, t: (k: string, o?: Record<string, unknown>) => string): string {
  const parts = o.caveat_data ?? [];
  if (parts.length === 0) return o.caveat;
  const out: string[] = [];
  for (const p of parts) {
    const code = p["code"];
    if (code === "card_text" && typeof p["text"] === "string") out.push(p["text"]);
    else if (typeof code === "string" && CAVEAT_CODES.includes(code)) out.push(t(`outlook.caveat.${code}`, { ...p, interpolation: { escapeValue: false } }));
    else return o.caveat;
  }
  return out.join(" ");
}

/** 12-month urinary protein with its interval, or what is missing; always with the model's caveat. */
export function OutlookView({ outlook }: { outlook: OutlookOut }) {
  const { t } = useTranslation();
  const level = outlook.interval_g_per_day ? Math.round((outlook.interval_g_per_day.level <= 1 ? outlook.interval_g_per_day.level * 100 : outlook.interval_g_per_day.level)) : null;
  return (
    <section className="outlook" data-testid="outlook">
      <h3>{t("outlook.title", { months: outlook.horizon_months })}</h3>
      {outlook.computable && outlook.prediction_g_per_day !== null && outlook.prediction_g_per_day !== undefined ? (
        <div className="outlook-value">
          <span className="mono big">{outlook.prediction_g_per_day.toFixed(2)}</span> <span className="muted">g/day</span>
          {outlook.interval_g_per_day ? (
            <div className="small">{t("outlook.interval", { level, low: outlook.interval_g_per_day.low.toFixed(2), high: outlook.interval_g_per_day.high.toFixed(2) })}</div>
          ) : null}
          <ModelCaveat model="proteinuria" />
        </div>
      ) : (
        <div className="small" data-testid="outlook-missing">
          {t("outlook.notComputable")}
          <ul className="missing-list">
            {(outlook.missing ?? []).map((m, i) => <li key={m}>{t(`outlook.missing.${m}`, { defaultValue: outlook.missing_detail?.[i] ?? m })}</li>)}
          </ul>
        </div>
      )}
      <div className={`outlook-caveat${outlook.synthetic_cohort ? " synthetic" : ""}`} role="note" data-testid="outlook-caveat">
        {outlook.synthetic_cohort ? <strong>⚠ {t("outlook.syntheticCohort")} </strong> : null}
        {outlookCaveat(outlook, t)}
      </div>
    </section>
  );
}

export function ClinicalPanel({ caseId }: { caseId: number }) {
  const { t, i18n } = useTranslation();
  const clinical = useQuery({ queryKey: ["clinical", caseId], queryFn: () => clinicalApi.get(caseId) });
  const fields = useQuery({ queryKey: ["clinicalFields"], queryFn: clinicalApi.fields, staleTime: Infinity });
  const outlook = useQuery({ queryKey: ["outlook", caseId], queryFn: () => clinicalApi.outlook(caseId) });
  const [editing, setEditing] = useState(false);
  if (clinical.isLoading || fields.isLoading) return <Loading />;
  if (clinical.error) return <ErrorMessage error={clinical.error} />;
  if (fields.error) return <ErrorMessage error={fields.error} />;
  const c = clinical.data ?? null;
  const hasDraft = loadLocal(draftKey(caseId)) !== null;
  return (
    <div className="clinical-panel">
      {editing || hasDraft ? (
        <ClinicalForm caseId={caseId} fields={fields.data ?? []} clinical={c} onDone={() => setEditing(false)} />
      ) : (
        <>
          <div className="report-status">
            {c?.recorded ? <span className="muted small">{t("clinical.updated", { time: formatDateTime(c.updated_at ?? null, i18n.language) })}</span> : <span className="muted">{t("clinical.none")}</span>}
            <span className="spacer" />
            <button type="button" className="btn small" onClick={() => setEditing(true)} data-testid="clinical-edit">{c?.recorded ? t("clinical.edit") : t("clinical.enter")}</button>
          </div>
          {c?.recorded ? <ClinicalView clinical={c} /> : null}
        </>
      )}
      {outlook.isLoading ? <Loading /> : outlook.error ? <ErrorMessage error={outlook.error} compact /> : outlook.data ? <OutlookView outlook={outlook.data} /> : null}
    </div>
  );
}
