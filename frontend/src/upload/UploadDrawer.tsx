import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type DragEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { casesApi } from "../api/cases";
import { useFeature } from "../api/features";
import { STAINS, type Stain } from "../api/types";
import { ErrorMessage } from "../components/ErrorMessage";
import { NotAvailable } from "../components/NotAvailable";
import { SLIDE_EXTENSIONS, formatBytes, formatDuration } from "./files";
import { fraction, timeLeft, type UploadEntry } from "./machine";
import { useUploads } from "./UploadProvider";

function UploadRow({ e }: { e: UploadEntry }) {
  const { t } = useTranslation();
  const u = useUploads();
  const pct = Math.round(fraction(e) * 100);
  const left = timeLeft(e);
  const editableStain = e.phase === "ready" || e.phase === "failed";
  return (
    <li className={`upload-row phase-${e.phase}`} data-testid="upload-row" data-phase={e.phase}>
      <div className="upload-line">
        <span className="upload-name" title={e.name}>{e.name}</span>
        <span className="muted small mono">{formatBytes(e.size)}</span>
        <span className="muted small">{t("upload.caseLabel", { number: e.caseNumber })}</span>
        {e.phase !== "invalid" ? (
          <select aria-label={t("upload.stain")} value={e.stain} disabled={!editableStain} onChange={(ev) => u.setStain(e.key, ev.target.value as Stain)}>
            {STAINS.map((s) => (
              <option key={s} value={s}>{t(`stain.${s}`)}</option>
            ))}
          </select>
        ) : null}
        <span className="upload-actions">
          {e.phase === "ready" ? <button type="button" className="btn small primary" onClick={() => u.start(e.key)}>{t("upload.start")}</button> : null}
          {e.phase === "uploading" ? <button type="button" className="btn small" onClick={() => u.pause(e.key)}>{t("upload.pause")}</button> : null}
          {e.phase === "paused" ? <button type="button" className="btn small primary" onClick={() => u.resume(e.key)}>{t("upload.resume")}</button> : null}
          {e.phase === "failed" ? <button type="button" className="btn small primary" onClick={() => u.retry(e.key)}>{t("upload.retry")}</button> : null}
          {e.phase === "done" && e.slideId ? <Link className="btn small" to={`/cases/${e.caseId}?slide=${e.slideId}`} onClick={() => u.closeDrawer()}>{t("upload.open")}</Link> : null}
          {e.phase !== "uploading" && e.phase !== "processing" ? (
            <button type="button" className="btn small ghost" aria-label={t("upload.remove")} title={t("upload.remove")} onClick={() => u.remove(e.key)}>×</button>
          ) : null}
        </span>
      </div>
      {e.phase !== "invalid" ? (
        <div className="upload-progress">
          <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
            <div className="bar-fill" style={{ width: `${pct}%` }} />
          </div>
          <span className="upload-status small">
            {e.phase === "uploading"
              ? `${pct}% · ${formatBytes(e.bytesSent)} / ${formatBytes(e.size)}${e.speed ? ` · ${formatBytes(e.speed)}/s` : ""}${left !== null ? ` · ${t("upload.timeLeft", { time: formatDuration(left) })}` : ""}`
              : t(`upload.phase.${e.phase}`, { outcome: e.outcome ? t(`upload.outcome.${e.outcome}`) : "" })}
            {e.resumed && e.phase === "uploading" ? ` · ${t("upload.resumed")}` : ""}
          </span>
        </div>
      ) : null}
      {e.errorCode ? (
        <div className="error-msg compact" role="alert">
          <strong>{t(`upload.error.${e.errorCode}`, { defaultValue: t("upload.error.generic", { code: e.errorCode }) })}</strong>
          {e.errorDetail ? <span className="error-detail">{e.errorDetail}</span> : null}
        </div>
      ) : e.phase === "done" && e.errorDetail ? (
        <div className="muted small">{e.errorDetail}</div>
      ) : null}
    </li>
  );
}

/** Pick the case the files belong to, or open a new one (the server assigns its pseudonymous number). */
function CasePicker({ caseId, onPick }: { caseId: number | null; onPick: (id: number, number: string) => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const [chosen, setChosen] = useState<number | null>(caseId);
  const cases = useQuery({ queryKey: ["cases", "picker"], queryFn: () => casesApi.list({}) });
  const create = useMutation({
    mutationFn: () => casesApi.create(),
    onSuccess: (c) => {
      void qc.invalidateQueries({ queryKey: ["cases"] });
      setChosen(c.id);
      onPick(c.id, c.number);
    },
  });
  const items = cases.data?.items ?? [];
  useEffect(() => {
    const current = items.find((c) => c.id === chosen);
    if (current) onPick(current.id, current.number);
  }, [chosen, items.length]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <div className="case-picker">
      <label className="field">
        <span>{t("upload.case")}</span>
        <div className="row">
          <select value={chosen ?? ""} onChange={(e) => setChosen(e.target.value ? Number(e.target.value) : null)} data-testid="case-select">
            <option value="">{t("upload.chooseCase")}</option>
            {items.map((c) => <option key={c.id} value={c.id}>{c.number}</option>)}
          </select>
          <button type="button" className="btn" onClick={() => create.mutate()} disabled={create.isPending} data-testid="new-case">{t("upload.newCase")}</button>
        </div>
      </label>
      {cases.error ? <ErrorMessage error={cases.error} compact /> : null}
      {create.error ? <ErrorMessage error={create.error} compact /> : null}
    </div>
  );
}

export function UploadDrawer() {
  const { t } = useTranslation();
  const u = useUploads();
  const uploadsAvailable = useFeature("uploads");
  const [target, setTarget] = useState<{ id: number; number: string } | null>(null);
  const [drag, setDrag] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const drawerRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") u.closeDrawer();
    };
    window.addEventListener("keydown", onKey);
    drawerRef.current?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, [u]);

  const addFiles = (list: FileList | null) => {
    if (!list || !target) return;
    u.addFiles(Array.from(list), target.id, target.number);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDrag(false);
    addFiles(e.dataTransfer.files);
  };
  const readyCount = u.entries.filter((e) => e.phase === "ready").length;

  return (
    <div className="drawer-backdrop" onClick={() => u.closeDrawer()}>
      <aside ref={drawerRef} tabIndex={-1} className="drawer" role="dialog" aria-modal="true" aria-labelledby="upload-title" onClick={(e) => e.stopPropagation()} data-testid="upload-drawer">
        <header className="drawer-head">
          <h2 id="upload-title">{t("upload.title")}</h2>
          <button type="button" className="btn ghost small" onClick={() => u.closeDrawer()} aria-label={t("common.close")}>×</button>
        </header>
        {uploadsAvailable === false ? (
          <NotAvailable what={t("upload.title")} />
        ) : (
          <>
            <CasePicker caseId={u.drawerCaseId} onPick={(id, number) => setTarget({ id, number })} />
            <div
              className={`drop-zone${drag ? " drag" : ""}${target ? "" : " disabled"}`}
              onDragOver={(e) => { e.preventDefault(); setDrag(true); }}
              onDragLeave={() => setDrag(false)}
              onDrop={onDrop}
              onClick={() => target && inputRef.current?.click()}
              role="button"
              tabIndex={0}
              onKeyDown={(e) => { if ((e.key === "Enter" || e.key === " ") && target) inputRef.current?.click(); }}
              aria-disabled={!target}
              data-testid="drop-zone"
            >
              {target ? (
                <>
                  <strong>{t("upload.dropHere", { number: target.number })}</strong>
                  <span className="muted small">{t("upload.accepted", { exts: SLIDE_EXTENSIONS.join(" ") })}</span>
                </>
              ) : (
                <span className="muted">{t("upload.pickCaseFirst")}</span>
              )}
              <input ref={inputRef} type="file" multiple hidden data-testid="file-input" onChange={(e) => { addFiles(e.target.files); e.target.value = ""; }} />
            </div>
            {u.interrupted.length ? (
              <section className="interrupted">
                <h3>{t("upload.interruptedTitle")}</h3>
                <p className="muted small">{t("upload.interruptedBody")}</p>
                <ul>
                  {u.interrupted.map((i) => (
                    <li key={i.storageKey}>
                      <span className="upload-name">{i.name}</span>
                      <span className="muted small">{i.size !== null ? formatBytes(i.size) : ""} {i.stain ? t(`stain.${i.stain}`, { defaultValue: i.stain }) : ""}</span>
                      <button type="button" className="btn small ghost" onClick={() => u.discardInterrupted(i.storageKey)}>{t("upload.discard")}</button>
                    </li>
                  ))}
                </ul>
              </section>
            ) : null}
            <ul className="upload-list">
              {u.entries.map((e) => <UploadRow key={e.key} e={e} />)}
            </ul>
            <footer className="drawer-foot">
              <span className="muted small">{t("upload.footer")}</span>
              <button type="button" className="btn primary" disabled={!readyCount} onClick={() => u.startAll()}>{t("upload.startAll", { count: readyCount })}</button>
            </footer>
          </>
        )}
      </aside>
    </div>
  );
}
