import { useTranslation } from "react-i18next";
import { NavLink, useParams } from "react-router";
import { useFeature, type Feature } from "../api/features";
import { NotAvailable } from "../components/NotAvailable";

const SECTIONS: { key: string; feature: Feature }[] = [
  { key: "discrepancies", feature: "discrepancies" },
  { key: "agreement", feature: "admin" },
  { key: "audit", feature: "audit" },
  { key: "users", feature: "admin" },
  { key: "settings", feature: "admin" },
  { key: "models", feature: "models" },
];

/** Admin area (issue 4). Each section states plainly when its API is not there yet. */
export function AdminPage() {
  const { t } = useTranslation();
  const { section = "discrepancies" } = useParams();
  const current = SECTIONS.find((s) => s.key === section) ?? SECTIONS[0]!;
  const available = useFeature(current.feature);
  return (
    <div className="page admin">
      <nav className="sub-nav">
        {SECTIONS.map((s) => (
          <NavLink key={s.key} to={`/admin/${s.key}`} className={({ isActive }) => (isActive || (s.key === "discrepancies" && !section) ? "active" : "")}>{t(`admin.${s.key}`)}</NavLink>
        ))}
      </nav>
      <div className="admin-body">
        <h1>{t(`admin.${current.key}`)}</h1>
        <p className="muted">{t(`admin.${current.key}Desc`)}</p>
        <NotAvailable what={t(`admin.${current.key}`)} note={available ? t("case.reportPending") : undefined} />
      </div>
    </div>
  );
}
