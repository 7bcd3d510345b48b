import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { reportsApi, type ReportIn } from "../api/planned";
import { ErrorMessage } from "../components/ErrorMessage";

/** The structured report's fields (DOMAIN.md §4), shared by the first read, amendments and second reads. */
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
export const INT_SCORES = new Set(["M", "E", "S", "T", "C"]);
export const AXES = ["clinical_diagnosis", "pathogenesis", "histopathology"] as const;

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

/** localStorage helpers: what is typed survives reloads, lost connections and expired sessions. */
export function loadLocal(key: string): FormValues | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as FormValues) : null;
  } catch {
    return null;
  }
}
export function saveLocal(key: string, v: FormValues): void {
  try {
    localStorage.setItem(key, JSON.stringify(v));
  } catch {
    /* storage full or disabled: the form still works, only the safety net is gone */
  }
}

/**
 * The fieldsets of the structured report: counts, scores, J-RBR diagnosis axes and free text.
 * Controlled: the caller owns the values (and where they are kept). `idPrefix` keeps ids unique when
 * two forms share a page (the signed report above a second reader's own assessment).
 */
export function ReportFields({ values, onChange, readOnly, idPrefix = "r" }: {
  values: FormValues; onChange: (field: string, value: string) => void; readOnly: boolean; idPrefix?: string;
}) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language === "ja" ? "ja" : "en";
  const vocab = useQuery({ queryKey: ["vocabulary"], queryFn: reportsApi.vocabulary, staleTime: Infinity });
  const notAssessed = t("report.notAssessed");
  const id = (k: string) => `${idPrefix}-${k}`;
  const sel = (k: string, options: { value: string; label: string }[]) => (
    <select id={id(k)} value={values[k] ?? ""} disabled={readOnly} onChange={(e) => onChange(k, e.target.value)}>
      <option value="">{notAssessed}</option>
      {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
    </select>
  );
  return (
    <>
      <fieldset>
        <legend>{t("report.counts")}</legend>
        <div className="form-grid">
          {COUNT_FIELDS.map((f) => (
            <label key={f} htmlFor={id(f)}>
              <span>{t(`report.field.${f}`)}</span>
              <input id={id(f)} type="number" min={0} inputMode="numeric" placeholder="—" value={values[f] ?? ""} readOnly={readOnly} onChange={(e) => onChange(f, e.target.value)} />
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset>
        <legend>{t("report.scores")}</legend>
        <div className="form-grid">
          {Object.entries(SCORE_OPTIONS).map(([f, opts]) => (
            <label key={f} htmlFor={id(f)}>
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
            <label key={a} htmlFor={id(a)} className="wide">
              <span>{axis ? axis.label[lang] : t(`report.field.${a}`)}</span>
              {sel(a, (axis?.terms ?? []).map((term) => ({ value: term.code, label: term[lang] })))}
            </label>
          );
        })}
        <label htmlFor={id("free_text")} className="wide">
          <span>{t("report.field.free_text")}</span>
          <textarea id={id("free_text")} rows={3} value={values.free_text ?? ""} readOnly={readOnly} onChange={(e) => onChange("free_text", e.target.value)} />
        </label>
      </fieldset>
    </>
  );
}
