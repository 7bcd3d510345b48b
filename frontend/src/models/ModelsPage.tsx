import { useQueries, useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { useTranslation } from "react-i18next";
import { useLocation } from "react-router";
import { useFeature } from "../api/features";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading, NotAvailable } from "../components/NotAvailable";
import { kappaOf, modelsApi, type ModelCard } from "./api";

const num = (x: number | null | undefined, digits = 3) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "") : "—");

function FindingLabel({ f }: { f: string }) {
  const { t } = useTranslation();
  return <>{t(`finding.${f}`, { defaultValue: f })}</>;
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
          <ul className="syn-list">{syn.map((f) => <li key={f}><FindingLabel f={f} /></li>)}</ul>
        </>
      ) : null}
      {card.caveat ? <p>{card.caveat}</p> : null}
    </div>
  );
}

function MetricsTable({ card }: { card: ModelCard }) {
  const { t } = useTranslation();
  const syn = new Set(card.synthetic_only ?? []);
  const findings = [...new Set([...Object.keys(card.thresholds ?? {}), ...Object.keys(card.metrics ?? {})])];
  if (!findings.length) return <p className="muted small">{t("models.noMetrics")}</p>;
  return (
    <table className="grid model-metrics">
      <thead>
        <tr>
          <th>{t("admin.finding")}</th><th>{t("models.validation")}</th><th>n (+)</th><th>AUC</th><th>κ</th>
          <th title={t("models.tLoHint")}>t_lo</th><th title={t("models.tHiHint")}>t_hi</th><th>{t("models.indeterminate")}</th><th>{t("models.balAcc")}</th>
        </tr>
      </thead>
      <tbody>
        {findings.map((f) => {
          const m = card.metrics?.[f];
          const th = card.thresholds?.[f];
          const k = kappaOf(m);
          return (
            <tr key={f} className={syn.has(f) ? "synthetic-row" : undefined} data-finding={f}>
              <td>
                <FindingLabel f={f} />
                {syn.has(f) ? <span className="chip tone-bad syn-chip">{t("models.syntheticOnly")}</span> : null}
              </td>
              <td className="small wrap">{m?.validation ?? "—"}</td>
              <td className="mono">{m?.n !== undefined ? `${m.n} (${m.n_pos ?? "?"})` : "—"}</td>
              <td className="mono">{num(m?.auc)}</td>
              <td className="mono" title={m?.kappa_literature?.source ?? ""}>{num(k, 2)}{m?.kappa_literature && m.kappa_literature.verified === false ? "*" : ""}</td>
              <td className="mono">{num(th?.t_lo, 4)}</td>
              <td className="mono">{num(th?.t_hi, 4)}</td>
              <td className="mono">{num(m?.indeterminate_fraction)}</td>
              <td className="mono">{num(m?.balanced_accuracy_decided)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Card({ card }: { card: ModelCard }) {
  const { t } = useTranslation();
  return (
    <section className="model-card" id={card.name} data-testid="model-card" data-model={card.name}>
      <header>
        <h2 className="mono">{card.name}</h2>
        {card.version ? <span className="chip">v{card.version}</span> : null}
        <span className="chip tone-warn">{t("models.researchOnly")}</span>
      </header>
      <SyntheticWarning card={card} />
      <table className="kv model-facts">
        <tbody>
          <tr><th>{t("models.task")}</th><td>{card.task ?? "—"}</td></tr>
          {card.architecture ? <tr><th>{t("models.architecture")}</th><td>{card.architecture}</td></tr> : null}
          {card.stains?.length ? <tr><th>{t("models.stains")}</th><td>{card.stains.map((s) => t(`stain.${s}`, { defaultValue: s })).join(", ")}</td></tr> : null}
          <tr><th>{t("models.licence")}</th><td className="licence">{card.licence ?? "—"}</td></tr>
        </tbody>
      </table>
      <div className="subsection">
        <h3>{t("models.trainingData")}</h3>
        {card.training_data?.length ? (
          <ul className="training-data">
            {card.training_data.map((d, i) => (
              <li key={i}>
                <div>{d.what ?? "—"}</div>
                {d.source ? <div className="muted small">{d.source}</div> : null}
                {d.licence ? <div className="small">{t("models.licence")}: <span className="licence">{d.licence}</span></div> : null}
              </li>
            ))}
          </ul>
        ) : <p className="muted small">—</p>}
      </div>
      <div className="subsection">
        <h3>{t("models.metrics")}</h3>
        <MetricsTable card={card} />
        <p className="muted small">{t("models.kappaNote")}</p>
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

/** Every model card: task, data and licence, metrics and thresholds per finding, synthetic-only findings. */
export function ModelsView() {
  const { t } = useTranslation();
  const available = useFeature("models");
  const location = useLocation();
  const list = useQuery({ queryKey: ["models"], queryFn: modelsApi.list, enabled: available === true, staleTime: 5 * 60_000 });
  // The list may be a summary: each card's detail carries CARD.md and the full metrics.
  const details = useQueries({
    queries: (list.data ?? []).map((m) => ({ queryKey: ["models", m.name], queryFn: () => modelsApi.get(m.name), staleTime: 5 * 60_000 })),
  });
  const cards = (list.data ?? []).map((m, i) => ({ ...m, ...(details[i]?.data ?? {}) }));
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
      {cards.map((c) => <Card key={c.name} card={c} />)}
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
