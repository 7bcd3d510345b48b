import { useTranslation } from "react-i18next";
import { Link } from "react-router";

export function NotFoundPage() {
  const { t } = useTranslation();
  return (
    <div className="page">
      <h1>{t("errors.pageNotFound")}</h1>
      <Link to="/">{t("case.back")}</Link>
    </div>
  );
}
