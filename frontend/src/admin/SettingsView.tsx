import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { adminApi } from "../api/planned";
import { STAINS } from "../api/types";
import { useAuth } from "../auth/AuthProvider";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/NotAvailable";
import { groupedKeys, settingsPayload, toText } from "./settings";

/** Thresholds, blinded first read and reliability minimums of one institution; saving recomputes its assessments. */
export function SettingsView() {
  const { t } = useTranslation();
  const { user } = useAuth();
  const qc = useQueryClient();
  const institutions = useQuery({ queryKey: ["admin", "institutions"], queryFn: adminApi.institutions });
  const [instId, setInstId] = useState<number | null>(user?.institution_id ?? null);
  const q = useQuery({ queryKey: ["admin", "settings", instId], queryFn: () => adminApi.settings(instId!), enabled: instId !== null });
  const [form, setForm] = useState<Record<string, string>>({});
  const [blinded, setBlinded] = useState<boolean | null>(null);
  const [resets, setResets] = useState<Set<string>>(new Set());
  useEffect(() => {
    setForm({});
    setResets(new Set());
    setBlinded(null);
  }, [q.data]);
  const save = useMutation({
    mutationFn: () => adminApi.saveSettings(instId!, {
      blinded_first_read: blinded ?? q.data!.blinded_first_read,
      assessment: settingsPayload(q.data!.effective, q.data!.overrides, form, resets),
    }),
    onSuccess: (r) => {
      qc.setQueryData(["admin", "settings", instId], r);
      for (const k of ["assessment", "comparison", "cases"]) void qc.invalidateQueries({ queryKey: [k] });
    },
  });
  if (q.isLoading || instId === null) return <Loading />;
  if (q.error) return <ErrorMessage error={q.error} />;
  const s = q.data!;
  const value = (k: string) => (k in form ? form[k]! : toText(s.effective[k]));
  const overridden = (k: string) => k in s.overrides && !resets.has(k);
  const setField = (k: string, v: string) => {
    setForm((f) => ({ ...f, [k]: v }));
    setResets((r) => { const n = new Set(r); n.delete(k); return n; });
  };
  const reset = (k: string) => {
    setResets((r) => new Set(r).add(k));
    setForm((f) => { const n = { ...f }; delete n[k]; return n; });
  };
  const dirty = Object.keys(form).length > 0 || resets.size > 0 || (blinded !== null && blinded !== s.blinded_first_read);
  return (
    <form className="settings" data-testid="settings" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
      {(institutions.data?.length ?? 0) > 1 ? (
        <label className="inline-field">
          <span>{t("settings.institution")}</span>
          <select value={instId} onChange={(e) => setInstId(Number(e.target.value))}>
            {institutions.data!.map((i) => <option key={i.id} value={i.id}>{i.name} ({i.code})</option>)}
          </select>
        </label>
      ) : null}
      <fieldset>
        <legend>{t("settings.group.blinded")}</legend>
        <label className="check-field">
          <input type="checkbox" checked={blinded ?? s.blinded_first_read} onChange={(e) => setBlinded(e.target.checked)} />
          <span>{t("settings.blindedFirstRead")}</span>
        </label>
        <p className="muted small">{t("settings.blindedHint")}</p>
      </fieldset>
      {groupedKeys(s.effective).map((g) => (
        <fieldset key={g.key}>
          <legend>{t(`settings.group.${g.key}`)}</legend>
          {g.key === "reliability" ? <p className="muted small">{t("settings.reliabilityHint")}</p> : null}
          <div className="settings-grid">
            {g.fields.map((k) => (
              <label key={k} className="setting" htmlFor={`s-${k}`}>
                <span className="setting-name">{t(`settings.field.${k}`, { defaultValue: k })}</span>
                <span className="mono small muted">{k}</span>
                {k === "default_stain" ? (
                  <select id={`s-${k}`} value={value(k)} onChange={(e) => setField(k, e.target.value)}>
                    {STAINS.map((x) => <option key={x} value={x}>{t(`stain.${x}`)}</option>)}
                  </select>
                ) : (
                  <input id={`s-${k}`} value={value(k)} inputMode={typeof s.effective[k] === "number" ? "decimal" : undefined} onChange={(e) => setField(k, e.target.value)} />
                )}
                <span className="setting-origin small">
                  {overridden(k) ? <><span className="chip tone-accent">{t("settings.institutionValue")}</span> <button type="button" className="btn ghost small" onClick={() => reset(k)}>{t("settings.reset")}</button></> : <span className="muted">{resets.has(k) ? t("settings.willReset") : t("settings.default")}</span>}
                </span>
              </label>
            ))}
          </div>
        </fieldset>
      ))}
      <ErrorMessage error={save.error} />
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={!dirty || save.isPending} data-testid="settings-save">{t("settings.save")}</button>
        {save.isSuccess ? <span className="muted small">{t("settings.saved", { count: save.data?.recomputed_case_ids?.length ?? 0 })}</span> : null}
      </div>
    </form>
  );
}
