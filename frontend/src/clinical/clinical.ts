/** Clinical form ↔ API (DOMAIN.md §6). Pure, unit-tested; the server stays authoritative on ranges. */

export interface FieldInfo {
  field: string;
  type: "date" | "integer" | "number" | "text" | "choice" | string;
  choices?: string[];
  unit?: string;
  min?: number;
  max?: number;
  computed?: boolean;
  formula?: string;
  max_length?: number;
}

export const EGFR_MIN_AGE = 18;

/**
 * eGFR by the Japanese equation (mL/min/1.73 m²): 194 × Cr^−1.094 × age^−0.287 × 0.739 if female.
 * Null when an input is missing or the patient is a child (the equation is for adults); rounded to 0.1
 * like the server, so the preview and the stored value agree.
 */
export function egfrJapanese(creatinine: number | null, age: number | null, sex: string | null): number | null {
  if (creatinine === null || age === null || !sex || !(creatinine > 0) || !Number.isFinite(creatinine) || !Number.isFinite(age)) return null;
  if (age < EGFR_MIN_AGE) return null;
  let v = 194 * creatinine ** -1.094 * age ** -0.287;
  if (sex === "female") v *= 0.739;
  return Math.round(v * 10) / 10;
}

const numeric = (t: string) => (t.trim() === "" ? null : Number(t.trim().replace(",", ".")));

/** Form strings → the PUT body: every catalogue field present (PUT replaces), "" → null, numbers parsed. */
export function toClinicalIn(form: Record<string, string>, fields: FieldInfo[]): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const f of fields) {
    if (f.computed) continue;
    const raw = form[f.field] ?? "";
    if (f.type === "integer" || f.type === "number") {
      const n = numeric(raw);
      out[f.field] = n === null || Number.isNaN(n) ? null : f.type === "integer" ? Math.round(n) : n;
    } else out[f.field] = raw.trim() === "" ? null : raw.trim();
  }
  return out;
}

/** A plausibility hint before saving (the server answers 422 with the same range). */
export function rangeProblem(f: FieldInfo, raw: string | undefined): "nan" | "low" | "high" | null {
  if (!raw || raw.trim() === "" || (f.type !== "integer" && f.type !== "number")) return null;
  const n = numeric(raw);
  if (n === null || Number.isNaN(n)) return "nan";
  if (f.min !== undefined && n < f.min) return "low";
  if (f.max !== undefined && n > f.max) return "high";
  return null;
}

export function fromClinical(c: Record<string, unknown> | null | undefined, fields: FieldInfo[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = c?.[f.field];
    out[f.field] = v === null || v === undefined ? "" : String(v);
  }
  return out;
}
