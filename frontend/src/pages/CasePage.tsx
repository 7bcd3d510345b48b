import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams, useSearchParams } from "react-router";
import { casesApi } from "../api/cases";
import { ApiError } from "../api/errors";
import { useFeature } from "../api/features";
import { slidesApi, slideUrls } from "../api/slides";
import { FINDINGS, type Glomerulus, type Job, type SlideSummary } from "../api/types";
import { analysisTime, analysisTimeLabel } from "../analysis/timings";
import { useJobProgress } from "../analysis/useJobProgress";
import { StateChip } from "../components/Chips";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { isTypingTarget } from "../lib/format";
import { useUploads } from "../upload/UploadProvider";
import { assessmentApi, comparisonApi, type AssessmentOut } from "../api/planned";
import { AssessmentView, ComparisonView, ReportPanel } from "./casePanels";
import { AlertPanel } from "../alerts/AlertPanel";
import { HistoryPanel } from "../case/HistoryPanel";
import { ClinicalPanel } from "../clinical/ClinicalPanel";
import { useAuth } from "../auth/AuthProvider";
import { GlomCard, GlomCrop, ProbabilityBars, glomBbox } from "../viewer/GlomCard";
import { styleOf, toOverlayItems, type StyleKey } from "../viewer/overlay";
import { readingOrder, step } from "../viewer/order";
import { SlideViewer, type SlideViewerHandle } from "../viewer/SlideViewer";
import { ALL_STYLE_KEYS, OVERLAY_STYLES } from "../viewer/styles";
import { ModelCaveat } from "../models/ModelCaveat";
import { focusSummary } from "../viewer/focus";
import { inkLabel, inkOverlayItems, inkSummary } from "../viewer/ink";

const TABS = ["report", "ai", "comparison", "clinical", "history"] as const;
type Tab = (typeof TABS)[number];

/** The server decides whether the AI is visible (blinded first read); it answers 403 with a "blind" code. */
export function isBlindedError(e: unknown): boolean {
  return e instanceof ApiError && e.status === 403 && /blind|report_not_signed|sign/i.test(`${e.code} ${e.detail}`);
}

function Legend({ counts, enabled, toggle, overlayVisible, toggleOverlay }: {
  counts: Map<StyleKey, number>; enabled: Set<StyleKey>; toggle: (k: StyleKey) => void; overlayVisible: boolean; toggleOverlay: () => void;
}) {
  const { t } = useTranslation();
  const label = (k: StyleKey) => (k === "ink" ? t("viewer.inkLegend") : k.startsWith("finding:") ? (k === "finding:other" ? t("viewer.abnormalOther") : t(`finding.${k.slice(8)}`)) : t(`glomStatus.${k}`));
  return (
    <div className="legend" data-testid="legend">
      <label className="legend-item master">
        <input type="checkbox" checked={overlayVisible} onChange={toggleOverlay} />
        <span>{t("viewer.overlay")} <kbd>F</kbd></span>
      </label>
      {ALL_STYLE_KEYS.filter((k) => counts.get(k) || k === "normal" || k === "indeterminate" || k === "not_assessable").map((k) => {
        const s = OVERLAY_STYLES[k]!;
        return (
          <label key={k} className={`legend-item${counts.get(k) ? "" : " empty"}`}>
            <input type="checkbox" checked={enabled.has(k)} onChange={() => toggle(k)} disabled={!overlayVisible} />
            <svg width="22" height="10" aria-hidden="true"><line x1="1" y1="5" x2="21" y2="5" stroke={s.color} strokeWidth="3" strokeDasharray={s.dash?.join(" ")} /></svg>
            <span>{label(k)}</span>
            <span className="muted mono">{counts.get(k) ?? 0}</span>
          </label>
        );
      })}
    </div>
  );
}

function AnalysisStatus({ job, onAnalyse, analysing, error, canAnalyse }: { job: Job | null; onAnalyse: () => void; analysing: boolean; error: unknown; canAnalyse: boolean }) {
  const { t } = useTranslation();
  const live = useJobProgress(job?.id, job ? { state: job.state, stage: job.stage ?? null, progress: job.progress ?? null, error: job.error ?? null } : undefined);
  const qc = useQueryClient();
  const state = live.state ?? job?.state ?? null;
  useEffect(() => {
    if (state === "succeeded" || state === "failed") {
      void qc.invalidateQueries({ queryKey: ["glomeruli"] });
      void qc.invalidateQueries({ queryKey: ["jobs"] });
      void qc.invalidateQueries({ queryKey: ["case"] });
    }
  }, [state, qc]);
  const running = state === "queued" || state === "running";
  const pct = live.progress !== null ? Math.round(live.progress * 100) : null;
  return (
    <div className="analysis-status" data-testid="analysis-status" data-state={state ?? "none"}>
      {running ? (
        <>
          <span className="chip tone-info">{state === "queued" ? t("analysis.queued") : t(`analysis.stage.${live.stage ?? "starting"}`, { defaultValue: live.stage ?? "" })}</span>
          <div className="bar small" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct ?? 0}>
            <div className="bar-fill" style={{ width: `${pct ?? 0}%` }} />
          </div>
          <span className="mono small">{pct !== null ? `${pct}%` : ""}</span>
          {!live.connected ? <span className="muted small" title={t("analysis.reconnecting")}>⟳</span> : null}
        </>
      ) : state === "succeeded" ? (
        <span className="chip tone-ok">{t("analysis.done")}</span>
      ) : state === "failed" ? (
        <>
          <span className="chip tone-bad">{t("analysis.failed")}</span>
          {live.error ?? job?.error ? <span className="job-error small" title={live.error ?? job?.error ?? ""}>{live.error ?? job?.error}</span> : null}
        </>
      ) : state === "cancelled" ? (
        <span className="chip">{t("analysis.cancelled")}</span>
      ) : null}
      {canAnalyse && !running ? (
        <button type="button" className="btn small primary" onClick={onAnalyse} disabled={analysing} data-testid="analyse-button">
          {state === "succeeded" || state === "failed" ? t("analysis.rerun") : t("analysis.analyse")}
        </button>
      ) : null}
      {error ? <ErrorMessage error={error} compact /> : null}
    </div>
  );
}

function Gallery({ slideId, gloms, onPick, selectedId }: { slideId: number; gloms: Glomerulus[]; onPick: (g: Glomerulus) => void; selectedId: number | null }) {
  const { t } = useTranslation();
  const [filter, setFilter] = useState<string>("");
  const [limit, setLimit] = useState(48);
  const shown = useMemo(() => {
    if (!filter) return gloms;
    if (filter.startsWith("status:")) return gloms.filter((g) => g.status === filter.slice(7));
    return gloms.filter((g) => (g.finding_states ? g.finding_states[filter] === "present" || g.finding_states[filter] === "indeterminate" : (g.findings[filter] ?? 0) >= 0.5));
  }, [gloms, filter]);
  return (
    <section className="gallery" data-testid="gallery">
      <div className="gallery-head">
        <h3>{t("ai.gallery")}</h3>
        <select aria-label={t("ai.galleryFilter")} value={filter} onChange={(e) => { setFilter(e.target.value); setLimit(48); }}>
          <option value="">{t("ai.allGlomeruli", { count: gloms.length })}</option>
          {(["abnormal", "normal", "indeterminate", "not_assessable"] as const).map((s) => (
            <option key={s} value={`status:${s}`}>{t(`glomStatus.${s}`)}</option>
          ))}
          {FINDINGS.map((f) => <option key={f} value={f}>{t(`finding.${f}`)}</option>)}
        </select>
        <span className="muted small">{t("ai.shown", { count: shown.length })}</span>
      </div>
      <ModelCaveat model="glom_classifier" />
      <div className="gallery-grid">
        {shown.slice(0, limit).map((g) => (
          <button type="button" key={g.id} className={`gallery-item${g.id === selectedId ? " selected" : ""}`} onClick={() => onPick(g)}>
            <GlomCrop slideId={slideId} g={g} size={112} />
            <ProbabilityBars g={g} compact />
          </button>
        ))}
      </div>
      {shown.length > limit ? <button type="button" className="btn small block" onClick={() => setLimit((l) => l + 48)}>{t("ai.showMore")}</button> : null}
    </section>
  );
}

function Blinded() {
  const { t } = useTranslation();
  return <div className="blinded" data-testid="blinded"><strong>{t("ai.blindedTitle")}</strong><p>{t("ai.blindedBody")}</p></div>;
}

function AiPanel({ slide, gloms, analysed, glomError, onPick, selected, job, blinded, assessment, assessmentError }: {
  slide: SlideSummary | null; gloms: Glomerulus[] | undefined; analysed: boolean; glomError: unknown; onPick: (g: Glomerulus) => void; selected: Glomerulus | null; job: Job | null;
  blinded: boolean; assessment: AssessmentOut | null | undefined; assessmentError: unknown;
}) {
  const { t } = useTranslation();
  if (blinded) return <Blinded />;
  if (!slide) return <div className="panel-empty muted">{t("case.noSlides")}</div>;
  if (glomError instanceof ApiError && glomError.status === 404) return <div className="panel-empty muted">{t("ai.notAnalysed")}</div>;
  if (glomError) return <ErrorMessage error={glomError} />;
  if (!gloms) return <Loading />;
  if (!analysed) return <div className="panel-empty muted" data-testid="not-analysed">{t("ai.notAnalysed")}</div>;
  const byStatus = new Map<string, number>();
  for (const g of gloms) byStatus.set(g.status, (byStatus.get(g.status) ?? 0) + 1);
  const assessable = gloms.length - (byStatus.get("not_assessable") ?? 0);
  const present = FINDINGS.map((f) => [f, gloms.filter((g) => (g.finding_states ? g.finding_states[f] === "present" : false)).length] as const).filter(([, n]) => n > 0);
  const focus = focusSummary(job?.result, gloms);
  const ink = inkSummary(job?.result, gloms);
  const time = analysisTime(job?.timings_s);
  return (
    <div className="ai-panel">
      {focus.slideBlurred ? <p className="error" role="alert" data-testid="slide-blurred">{t("ai.slideBlurred")}</p> : null}
      <ModelCaveat model="glom_detector" />
      <table className="kv">
        <tbody>
          <tr><th>{t("ai.detected")}</th><td className="mono">{gloms.length}</td></tr>
          <tr><th>{t("ai.assessable")}</th><td className="mono">{assessable}</td></tr>
          {(["normal", "abnormal", "indeterminate", "not_assessable"] as const).map((s) => (
            <tr key={s}><th>{t(`glomStatus.${s}`)}</th><td className="mono">{byStatus.get(s) ?? 0}</td></tr>
          ))}
          <tr><th>{t("ai.outOfFocus")}</th><td className="mono" data-testid="out-of-focus">{focus.checked ? focus.outOfFocus : t("ai.focusNotChecked")}</td></tr>
          <tr><th>{t("ai.ink")}</th><td className="small" data-testid="marker-ink">{inkLabel(ink, t)}</td></tr>
          {present.map(([f, n]) => (
            <tr key={f}><th>{t(`finding.${f}`)}</th><td className="mono">{n}</td></tr>
          ))}
        </tbody>
      </table>
      <div className="subsection">
        <h3>{t("ai.caseAssessment")}</h3>
        <ModelCaveat model="glom_classifier" />
        {assessmentError ? <ErrorMessage error={assessmentError} compact /> : assessment ? <AssessmentView assessment={assessment} /> : assessment === null ? <div className="muted small">{t("ai.assessmentPending")}</div> : <Loading />}
        {assessment?.model_versions.length ? <div className="muted small mono">{assessment.model_versions.join(" · ")}</div> : null}
      </div>
      {job?.model_versions && Object.keys(job.model_versions).length ? (
        <div className="subsection">
          <h3>{t("ai.models")}</h3>
          <ul className="plain small mono">{Object.entries(job.model_versions).map(([k, v]) => <li key={k}><Link to={`/models#${k}`}>{k}</Link>: {v}</li>)}</ul>
        </div>
      ) : null}
      {time ? <div className="muted small" data-testid="analysis-time">{t("ai.analysisTime")}: {analysisTimeLabel(time, t)}</div> : null}
      <div className="subsection">
        <a className="btn small" href={slideUrls.glomeruliGeojson(slide.id)} download data-testid="geojson-export">{t("ai.exportGeojson")}</a>
      </div>
      <Gallery slideId={slide.id} gloms={gloms} onPick={onPick} selectedId={selected?.id ?? null} />
    </div>
  );
}

export function CasePage() {
  const { t } = useTranslation();
  const { caseId: caseIdParam } = useParams();
  const caseId = Number(caseIdParam);
  const [params, setParams] = useSearchParams();
  const uploads = useUploads();
  const qc = useQueryClient();
  const viewerRef = useRef<SlideViewerHandle>(null);
  const { user } = useAuth();
  const clinicalAvailable = useFeature("clinical");
  const historyAvailable = useFeature("audit");

  const kase = useQuery({ queryKey: ["case", caseId], queryFn: () => casesApi.get(caseId), enabled: Number.isFinite(caseId) });
  const slides = kase.data?.slides ?? [];
  const slideId = Number(params.get("slide")) || slides[0]?.id || null;
  const slideSummary = slides.find((s) => s.id === slideId) ?? null;
  const slide = useQuery({ queryKey: ["slide", slideId], queryFn: () => slidesApi.get(slideId!), enabled: !!slideId });
  const slideInfo: SlideSummary | null = slide.data ?? slideSummary;
  const gloms = useQuery({
    queryKey: ["glomeruli", slideId],
    queryFn: () => slidesApi.glomeruli(slideId!),
    enabled: !!slideId,
    retry: (n, e) => !(e instanceof ApiError && e.status < 500) && n < 2,
  });
  const assessment = useQuery({ queryKey: ["assessment", caseId], queryFn: () => assessmentApi.get(caseId), enabled: Number.isFinite(caseId) && kase.isSuccess });
  const comparison = useQuery({ queryKey: ["comparison", caseId], queryFn: () => comparisonApi.get(caseId), enabled: Number.isFinite(caseId) && kase.isSuccess });
  // The server owns the blinded first read: any AI endpoint answering 403 blinded_first_read hides all AI output here.
  const blinded = isBlindedError(gloms.error) || isBlindedError(assessment.error) || isBlindedError(comparison.error);
  const tab: Tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? (params.get("tab") as Tab) : blinded ? "report" : "ai";
  const setParam = (k: string, v: string | null) => {
    const next = new URLSearchParams(params);
    if (v === null) next.delete(k);
    else next.set(k, v);
    setParams(next, { replace: true });
  };

  const jobs = useQuery({ queryKey: ["jobs", slideId], queryFn: () => slidesApi.jobs(slideId!), enabled: !!slideId });
  const [job, setJob] = useState<Job | null>(null);
  useEffect(() => setJob(jobs.data?.[0] ?? slideInfo?.latest_job ?? null), [slideId, jobs.data]); // eslint-disable-line react-hooks/exhaustive-deps
  const analyse = useMutation({
    mutationFn: () => slidesApi.analyze(slideId!),
    onSuccess: (j) => {
      setJob(j);
      void qc.invalidateQueries({ queryKey: ["cases"] });
    },
  });

  const visibleGloms = useMemo(() => (blinded ? [] : (gloms.data?.glomeruli ?? [])), [gloms.data, blinded]);
  const [highlighted, setHighlighted] = useState<Set<number> | null>(null);
  const inkRegions = blinded ? 0 : inkSummary(job?.result, []).regions;
  const items = useMemo(() => [...toOverlayItems(visibleGloms), ...(blinded ? [] : inkOverlayItems(job?.result))], [visibleGloms, job, blinded]);
  const counts = useMemo(() => {
    const m = new Map<StyleKey, number>();
    for (const it of items) if (it.style !== "ink") m.set(it.style, (m.get(it.style) ?? 0) + 1);
    if (inkRegions) m.set("ink", inkRegions);  // regions, not rings
    return m;
  }, [items, inkRegions]);
  const [enabled, setEnabled] = useState<Set<StyleKey>>(() => new Set(ALL_STYLE_KEYS));
  const [overlayVisible, setOverlayVisible] = useState(true);
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const ordered = useMemo(() => readingOrder(visibleGloms.filter((g) => enabled.has(styleOf(g))), glomBbox), [visibleGloms, enabled]);
  const selectedIndex = ordered.findIndex((g) => g.id === selectedId);
  const selected = selectedIndex >= 0 ? ordered[selectedIndex]! : (visibleGloms.find((g) => g.id === selectedId) ?? null);

  const select = useCallback((g: Glomerulus | null, fly = true) => {
    setSelectedId(g ? g.id : null);
    if (g && fly) viewerRef.current?.flyTo(glomBbox(g));
  }, []);
  const go = useCallback((dir: 1 | -1) => {
    const i = step(selectedIndex, ordered.length, dir);
    if (i >= 0) select(ordered[i]!);
  }, [selectedIndex, ordered, select]);

  const showEvidence = useCallback((ids: number[]) => {
    const set = new Set(ids);
    const found = visibleGloms.filter((g) => set.has(g.id));
    setHighlighted(set);
    if (!found.length) return;
    const boxes = found.map(glomBbox);
    viewerRef.current?.flyTo({ x0: Math.min(...boxes.map((b) => b.x0)), y0: Math.min(...boxes.map((b) => b.y0)), x1: Math.max(...boxes.map((b) => b.x1)), y1: Math.max(...boxes.map((b) => b.y1)) }, 0.3);
  }, [visibleGloms]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTypingTarget(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key.toLowerCase();
      if (k === "n") go(1);
      else if (k === "p") go(-1);
      else if (k === "f") setOverlayVisible((v) => !v);
      else if (k === "escape") {
        setSelectedId(null);
        setHighlighted(null);
      }
      else if (k === "h") viewerRef.current?.home();
      else if (["1", "2", "3", "4"].includes(k)) viewerRef.current?.setMagnification([5, 10, 20, 40][Number(k) - 1]!);
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [go]);

  if (kase.isLoading) return <Loading />;
  if (kase.isError) return <div className="page"><ErrorMessage error={kase.error} /><Link to="/">{t("case.back")}</Link></div>;
  const c = kase.data!;
  const toggle = (k: StyleKey) => setEnabled((s) => {
    const n = new Set(s);
    if (n.has(k)) n.delete(k);
    else n.add(k);
    return n;
  });

  return (
    <div className="case-page">
      <div className="case-header">
        <Link to="/" className="back" title={t("case.back")}>←</Link>
        <h1 className="mono">{c.number}</h1>
        <StateChip state={c.state} />
        {c.open_alert ? (
          <span className="chip tone-warn" data-testid="case-alert" title={t("alert.title")}>
            {t("case.secondReader", { name: c.open_alert.assignee_name ?? t("worklist.unassigned") })} · {t(`alertState.${c.open_alert.state}`, { defaultValue: c.open_alert.state })}
          </span>
        ) : null}
        <div className="stain-tabs" role="tablist" aria-label={t("case.slides")}>
          {slides.map((s) => (
            <button key={s.id} role="tab" aria-selected={s.id === slideId} className={s.id === slideId ? "active" : ""} onClick={() => { setParam("slide", String(s.id)); setSelectedId(null); }} title={s.display_name}>
              {t(`stain.${s.stain ?? "other"}`, { defaultValue: s.stain ?? "?" })}
            </button>
          ))}
          <button type="button" className="add-slide" onClick={() => uploads.openDrawer(c.id)} title={t("case.addSlide")}>+</button>
        </div>
        <div className="mag-presets" aria-label={t("viewer.magnification")}>
          {[5, 10, 20, 40].map((m, i) => (
            <button key={m} type="button" className="btn small ghost" onClick={() => viewerRef.current?.setMagnification(m)} title={`${m}× (${i + 1})`}>{m}×</button>
          ))}
        </div>
        <div className="spacer" />
        {slideId ? <AnalysisStatus job={job} analysing={analyse.isPending} error={analyse.error} onAnalyse={() => analyse.mutate()} canAnalyse={slideInfo?.status !== "failed"} /> : null}
      </div>
      <div className="case-body">
        <div className="viewer-column">
          {slideId ? (
            <>
              <SlideViewer
                ref={viewerRef}
                tileSource={slideUrls.dzi(slideId)}
                mppX={slideInfo?.mpp_x ?? null}
                objectivePower={slideInfo?.objective_power ?? null}
                items={items}
                overlayVisible={overlayVisible}
                enabledStyles={enabled}
                selectedId={selectedId}
                highlighted={highlighted}
                onSelect={(id) => select(visibleGloms.find((g) => g.id === id) ?? null, false)}
              />
              <div className="viewer-footer">
                {items.length ? <Legend counts={counts} enabled={enabled} toggle={toggle} overlayVisible={overlayVisible} toggleOverlay={() => setOverlayVisible((v) => !v)} /> : <span />}
                <span className="viewer-footer-right">
                  {items.length ? <ModelCaveat model="glom_classifier" /> : null}
                  <span className="viewer-keys muted small">{t("viewer.keys")}</span>
                </span>
              </div>
            </>
          ) : (
            <div className="viewer-empty">
              <p>{t("case.noSlides")}</p>
              <button type="button" className="btn primary" onClick={() => uploads.openDrawer(c.id)}>{t("upload.button")}</button>
            </div>
          )}
        </div>
        <aside className="side-panel">
          <div className="tabs" role="tablist">
            {TABS.map((k) => (
              <button key={k} role="tab" aria-selected={tab === k} className={tab === k ? "active" : ""} onClick={() => setParam("tab", k)}>{t(`case.tab.${k}`)}</button>
            ))}
          </div>
          <div className="tab-body">
            {selected && tab === "ai" && slideId ? (
              <GlomCard slideId={slideId} g={selected} ordinal={selectedIndex + 1} total={ordered.length} mppX={slideInfo?.mpp_x} onClose={() => setSelectedId(null)} onNext={() => go(1)} onPrev={() => go(-1)} />
            ) : null}
            {tab === "report" ? <ReportPanel caseId={caseId} userId={user?.id ?? null} onSigned={() => setParam("tab", "comparison")} /> : null}
            {tab === "ai" ? <AiPanel slide={slideInfo} gloms={gloms.data?.glomeruli} analysed={!!gloms.data?.job} glomError={gloms.error} onPick={(g) => select(g)} selected={selected} job={gloms.data?.job ?? null}
              blinded={blinded} assessment={assessment.data} assessmentError={isBlindedError(assessment.error) ? null : assessment.error} /> : null}
            {tab === "comparison" ? <AlertPanel caseId={caseId} /> : null}
            {tab === "comparison" ? (
              blinded ? <Blinded /> : comparison.isLoading ? <Loading /> : comparison.error ? <ErrorMessage error={comparison.error} /> : comparison.data ? (
                <ComparisonView comparison={comparison.data} onEvidence={showEvidence} />
              ) : <div className="panel-empty muted">{t("comparison.none")}</div>
            ) : null}
            {tab === "clinical" ? (clinicalAvailable ? <ClinicalPanel caseId={caseId} /> : clinicalAvailable === false ? <NotAvailable what={t("case.tab.clinical")} /> : <Loading />) : null}
            {tab === "history" ? (historyAvailable ? <HistoryPanel caseId={caseId} /> : historyAvailable === false ? <NotAvailable what={t("case.tab.history")} /> : <Loading />) : null}
          </div>
        </aside>
      </div>
    </div>
  );
}
