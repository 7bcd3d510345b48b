import { useTranslation } from "react-i18next";
import { Link } from "react-router";

/**
 * Beside every model-derived number: these are research models (synthetic data and a small public crop
 * set), not validated for diagnosis. Links to the model card.
 */
export function ModelCaveat({ model, className }: { model?: string; className?: string }) {
  const { t } = useTranslation();
  return (
    <span className={`model-caveat${className ? ` ${className}` : ""}`} data-testid="model-caveat" title={t("caveat.long")}>
      <span aria-hidden="true">⚠</span> {t("caveat.short")} — <Link to={`/models${model ? `#${model}` : ""}`}>{t("caveat.seeCard")}</Link>
    </span>
  );
}
