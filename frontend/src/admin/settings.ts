/** Institution settings form ↔ API (PUT /api/admin/institutions/{id}/settings). Pure, unit-tested. */

export const SETTING_GROUPS: { key: string; fields: string[] }[] = [
  { key: "reliability", fields: ["reliability_min_kappa", "reliability_min_auc"] },
  { key: "adequacy", fields: ["adequacy_adequate_n", "adequacy_minimal_n", "percent_global_sclerosis_min_n", "default_stain", "not_assessable_flags"] },
  { key: "mestc", fields: ["mestc_min_n", "mestc_m1_percent", "mestc_c2_percent"] },
  { key: "hgrade", fields: ["h_grade_min_n", "h_grade_cutoffs"] },
  { key: "berden", fields: ["berden_min_n", "berden_percent", "crescentic_min_n", "crescentic_percent"] },
  { key: "lupus", fields: ["lupus_min_n", "lupus_class_iv_percent", "lupus_class_vi_percent", "nih_cutoffs", "diabetic_min_n", "diabetic_class_iv_percent"] },
  { key: "comparison", fields: ["minor_count_abs", "minor_count_rel"] },
];

export type SettingValue = number | string | boolean | (number | string)[] | null;

/** Every value as the text an input shows; lists comma-separated. */
export function toText(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(String).join(", ");
  return String(v);
}

/** Text back to the type of the effective value it edits (numbers stay numbers, lists stay lists). */
export function fromText(text: string, like: unknown): SettingValue {
  const t = text.trim();
  if (Array.isArray(like)) {
    const parts = t === "" ? [] : t.split(/[,\s]+/).filter(Boolean);
    const numeric = like.length ? like.every((x) => typeof x === "number") : parts.every((p) => !Number.isNaN(Number(p)));
    return numeric ? parts.map(Number) : parts;
  }
  if (typeof like === "number") return t === "" ? null : Number(t);
  if (typeof like === "boolean") return t === "true";
  return t;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The body for PUT: the stored overrides, minus the keys reset to default, plus every edited value that
 * differs from the effective one. Keys never touched are left to the defaults.
 */
export function settingsPayload(
  effective: Record<string, unknown>, overrides: Record<string, unknown>, form: Record<string, string>, resets: Set<string>,
): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const [k, v] of Object.entries(overrides)) if (!resets.has(k)) out[k] = v as SettingValue;
  for (const [k, text] of Object.entries(form)) {
    if (resets.has(k)) continue;
    const like = effective[k];
    const value = fromText(text, like);
    if (!same(value, like)) out[k] = value;
  }
  return out;
}

/** Which fields have an input: every effective key, grouped; keys the groups do not name go last. */
export function groupedKeys(effective: Record<string, unknown>): { key: string; fields: string[] }[] {
  const named = new Set(SETTING_GROUPS.flatMap((g) => g.fields));
  const groups = SETTING_GROUPS.map((g) => ({ key: g.key, fields: g.fields.filter((f) => f in effective) })).filter((g) => g.fields.length);
  const rest = Object.keys(effective).filter((k) => !named.has(k)).sort();
  return rest.length ? [...groups, { key: "other", fields: rest }] : groups;
}
