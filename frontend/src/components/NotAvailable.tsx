import { useTranslation } from "react-i18next";

/** The honest state for a module whose API does not exist yet: no placeholder data. */
export function NotAvailable({ what, note }: { what: string; note?: string }) {
  const { t } = useTranslation();
  return (
    <div className="not-available" data-testid="not-available">
      <div className="na-title">{t("common.notAvailableTitle", { what })}</div>
      <div className="na-body">{note ?? t("common.notAvailableBody")}</div>
    </div>
  );
}

export function Loading() {
  const { t } = useTranslation();
  return <div className="loading" aria-busy="true">{t("common.loading")}</div>;
}
