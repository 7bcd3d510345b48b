import { useQueries, useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { useTranslation } from "react-i18next";
import { useLocation } from "react-router";
import { useFeature } from "../api/features";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { classMetrics, detectionFigures, isReliable, modelsApi, type ModelCard, type ModelClass } from "./api";

const num = (x: number | null | undefined, digits = 3) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "") : "—");

function classLabel(c: ModelClass, lang: string, t: (k: string, o?: Record<string, unknown>) => string): string {
  return t(`finding.${c.key}`, { defaultValue: (lang === "ja" ? c.label_ja : c.label_en) ?? c.key });
}

/** Which findings rest on synthetic data only: the first thing a reader of the card must see. */
function SyntheticWarning({ card }: { card: ModelCard }) {
  const { t } = useTranslation();
  const syn = card.synthetic_only ?? [];
  if (!syn.length && !card.synthetic_cohort) return null;
  return (
    <div className="synthetic-warning" role="note" data-testid="synthetic-only">
      <strong>⚠ {card.synthetic_cohort ? t("models.syntheticCohortTitle") : t("models.syntheticOnlyTitle", { count: syn.length })}</strong>
      {syn.length ? (
        <>
          <p>{t("models.syntheticOnlyBody")}</p>
          <ul className="syn-list">{syn.map((f) => <li key={f}>{t(`finding.${f}`, { defaultValue: f })}</li>)}</ul>
        </>
      ) : null}
      {card.caveat ? <p data-testid="card-caveat">{card.caveat_code ? t(`outlook.caveat.${card.caveat_code}`, { defaultValue: card.caveat }) : card.caveat}</p> : null}
    </div>
  );
}

function MetricsTable({ card, minKappa, minAuc }: { card: ModelCard; minKappa: number; minAuc: number }) {
  const { t, i18n } = useTranslation();
  const classes = card.classes ?? [];
  if (!classes.length) return <p className="muted small">{t("models.noMetrics")}</p>;
  return (
    <table className="grid model-metrics">
      <thead>
        <tr>
          <th>{t("admin.finding")}</th><th>{t("models.validation")}</th><th className="nocase">n (+)</th><th>AUC</th><th className="nocase">κ</th>
          <th className="nocase" title={t("models.tLoHint")}>t_lo</th><th className="nocase" title={t("models.tHiHint")}>t_hi</th><th>{t("models.indeterminate")}</th><th>{t("models.balAcc")}</th><th>{t("models.alerts")}</th>
        </tr>
      </thead>
      <tbody>
        {classes.map((c) => {
          const m = classMetrics(c);
          const reliable = isReliable(c, minKappa, minAuc);
          return (
            <tr key={c.key} className={c.synthetic_only ? "synthetic-row" : undefined} data-finding={c.key}>
              <td>
                {classLabel(c, i18n.language, t)}
                {c.synthetic_only ? <span className="chip tone-bad syn-chip">{t("models.syntheticOnly")}</span> : null}
              </td>
              <td className="small wrap">{m.validation ?? "—"}</td>
              <td className="mono">{m.n !== null ? `${m.n} (${m.nPos ?? "?"})` : "—"}</td>
              <td className="mono">{num(m.auc)}</td>
              <td className="mono" title={m.kappaSource ?? ""}>{num(m.kappa, 2)}</td>
              <td className="mono">{num(c.t_lo, 4)}</td>
              <td className="mono">{num(c.t_hi, 4)}</td>
              <td className="mono">{num(m.indeterminate)}</td>
              <td className="mono">{num(m.balancedAccuracy)}</td>
              <td>{c.synthetic_only || !reliable ? <span className="muted small">{t("models.noAlerts")}</span> : <span className="small">{t("models.mayAlert")}</span>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** A detector's held-out figures: synthetic slides beside real tissue, so the synthetic F1 is never read alone. */
function DetectionTable({ card }: { card: ModelCard }) {
  const { t } = useTranslation();
  const rows = detectionFigures(card as { metrics?: Record<string, unknown> | null });
  if (!rows.length) return null;
  return (
    <div className="subsection">
      <h3>{t("models.detection")}</h3>
      <table className="grid model-metrics" data-testid="detection-figures">
        <thead>
          <tr><th>{t("models.validation")}</th><th>{t("models.glomeruli")}</th><th>TP / FP / FN</th><th>P</th><th>R</th><th>F1</th></tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.kind} data-kind={r.kind} className={r.kind === "synthetic" ? "synthetic-row" : undefined}>
              <td>{t(`models.detectionData.${r.kind}`)}</td>
              <td className="mono">{r.glomeruli ?? "—"}</td>
              <td className="mono">{r.tp ?? "—"} / {r.fp ?? "—"} / {r.fn ?? "—"}</td>
              <td className="mono">{num(r.precision)}</td>
              <td className="mono">{num(r.recall)}</td>
              <td className="mono">{num(r.f1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.some((r) => r.kind === "real_stitched") ? <p className="muted small">{t("models.detectionNote")}</p> : null}
    </div>
  );
}

function Card({ card, minKappa, minAuc }: { card: ModelCard; minKappa: number; minAuc: number }) {
  const { t } = useTranslation();
  const file = card.file;
  return (
    <section className="model-card" id={card.key} data-testid="model-card" data-model={card.key}>
      <header>
        <h2 className="mono">{card.name}</h2>
        {card.version ? <span className="chip">v{card.version}</span> : null}
        <span className="chip tone-warn">{t("models.researchOnly")}</span>
        <span className="spacer" />
        {file ? (
          <span className={`chip ${file.present && file.sha256_matches !== false ? "tone-ok" : "tone-bad"}`} title={file.sha256 ?? ""}>
            {!file.present ? t("models.fileMissing") : file.sha256_matches === false ? t("models.fileMismatch") : t("models.fileOk")}
          </span>
        ) : null}
      </header>
      <SyntheticWarning card={card} />
      <table className="kv model-facts">
        <tbody>
          <tr><th>{t("models.task")}</th><td>{card.task ?? "—"}</td></tr>
          {card.stains?.length ? <tr><th>{t("models.stains")}</th><td>{card.stains.map((s) => t(`stain.${s}`, { defaultValue: s })).join(", ")}</td></tr> : null}
          {card.input_mpp ? <tr><th>{t("models.input")}</th><td className="mono">{card.input_mpp} µm/px</td></tr> : null}
          <tr><th>{t("models.licence")}</th><td className="licence">{card.licence ?? "—"}</td></tr>
        </tbody>
      </table>
      <div className="subsection">
        <h3>{t("models.trainingData")}</h3>
        {card.training_data?.length ? (
          <ul className="training-data">
            {card.training_data.map((d, i) => {
              const what = [d.what, d.description, d.name].find((x): x is string => typeof x === "string") ?? JSON.stringify(d);
              return (
                <li key={i}>
                  <div>{what}</div>
                  {typeof d.source === "string" ? <div className="muted small">{d.source}</div> : null}
                  {typeof d.n_patients === "number" ? <div className="muted small">{t("models.nPatients", { count: d.n_patients })}</div> : null}
                  {typeof d.licence === "string" ? <div className="small">{t("models.licence")}: <span className="licence">{d.licence}</span></div> : null}
                </li>
              );
            })}
          </ul>
        ) : <p className="muted small">—</p>}
      </div>
      <DetectionTable card={card} />
      <div className="subsection">
        <h3>{t("models.metrics")}</h3>
        <MetricsTable card={card} minKappa={minKappa} minAuc={minAuc} />
        <p className="muted small">{t("models.kappaNote", { kappa: minKappa, auc: minAuc })}</p>
      </div>
      {card.card_md ? (
        <details className="card-md">
          <summary>{t("models.fullCard")}</summary>
          <pre>{card.card_md}</pre>
        </details>
      ) : null}
    </section>
  );
}

// DOMAIN.md defaults; an institution's own minimums are on the Settings page.
const MIN_KAPPA = 0.4;
const MIN_AUC = 0.8;

/** Every model card: task, data and licence, metrics and thresholds per finding, synthetic-only findings. */
export function ModelsView() {
  const { t } = useTranslation();
  const available = useFeature("models");
  const location = useLocation();
  const list = useQuery({ queryKey: ["models"], queryFn: modelsApi.list, enabled: available === true, staleTime: 5 * 60_000 });
  // The list may be a summary: each card's detail carries CARD.md and the full metrics.
  const details = useQueries({
    queries: (list.data ?? []).map((m) => ({ queryKey: ["models", m.key], queryFn: () => modelsApi.get(m.key), staleTime: 5 * 60_000 })),
  });
  const cards: ModelCard[] = (list.data ?? []).map((m, i) => ({ ...m, ...(details[i]?.data ?? {}) }));
  const ready = !!list.data && details.every((d) => !d.isLoading);
  useEffect(() => {
    if (!ready || !location.hash) return;
    document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView({ block: "start" });
  }, [ready, location.hash]);
  if (available === false) return <NotAvailable what={t("admin.models")} />;
  if (available === undefined || list.isLoading) return <Loading />;
  if (list.error) return <ErrorMessage error={list.error} />;
  return (
    <div className="models" data-testid="models">
      <div className="research-banner" role="note">
        <strong>{t("models.bannerTitle")}</strong> {t("models.bannerBody")}
      </div>
      {cards.length === 0 ? <p className="muted">{t("models.none")}</p> : null}
      {cards.map((c) => <Card key={c.key} card={c} minKappa={MIN_KAPPA} minAuc={MIN_AUC} />)}
    </div>
  );
}

/** /models: the same cards for every signed-in user (the caveats beside AI numbers link here). */
export function ModelsPage() {
  const { t } = useTranslation();
  return (
    <div className="page admin-body wide">
      <h1>{t("admin.models")}</h1>
      <p className="muted">{t("admin.modelsDesc")}</p>
      <ModelsView />
    </div>
  );
}
