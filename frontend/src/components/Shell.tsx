import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, Outlet } from "react-router";
import { useAuth, useOptionalAuth } from "../auth/AuthProvider";
import { LANGUAGES, setLanguage, type Language } from "../i18n";
import { UploadDrawer } from "../upload/UploadDrawer";
import { useUploads } from "../upload/UploadProvider";
import { Bell } from "./Bell";
import { ErrorMessage } from "./ErrorMessage";

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  const auth = useOptionalAuth();
  const choose = (lang: Language) => (auth ? auth.chooseLanguage(lang) : setLanguage(lang));
  return (
    <select className="lang-switch" aria-label={t("header.language")} value={i18n.language} onChange={(e) => choose(e.target.value as Language)}>
      {LANGUAGES.map((l) => (
        <option key={l.code} value={l.code}>{l.label}</option>
      ))}
    </select>
  );
}

function SessionExpiredDialog() {
  const { t } = useTranslation();
  const { user, login } = useAuth();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!user) return;
    setBusy(true);
    setError(null);
    try {
      await login(user.email, password);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="modal-backdrop" role="dialog" aria-modal="true" aria-labelledby="session-expired-title">
      <form className="modal" onSubmit={submit}>
        <h2 id="session-expired-title">{t("auth.sessionExpiredTitle")}</h2>
        <p>{t("auth.sessionExpiredBody")}</p>
        <label className="field">
          <span>{t("auth.email")}</span>
          <input value={user?.email ?? ""} readOnly />
        </label>
        <label className="field">
          <span>{t("auth.password")}</span>
          <input type="password" autoFocus value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" />
        </label>
        <ErrorMessage error={error} />
        <div className="modal-actions">
          <button type="submit" className="btn primary" disabled={busy || !password}>{t("auth.signInAgain")}</button>
        </div>
      </form>
    </div>
  );
}

export function Shell() {
  const { t } = useTranslation();
  const { user, logout, sessionExpired } = useAuth();
  const uploads = useUploads();
  const active = uploads.entries.filter((e) => e.phase === "uploading" || e.phase === "processing").length;
  const isAdmin = user?.role === "admin" || user?.role === "network_admin";
  return (
    <div className="app">
      <header className="app-header">
        <NavLink to="/" className="brand">glomcheck</NavLink>
        <nav className="main-nav">
          <NavLink to="/" end>{t("nav.worklist")}</NavLink>
          <NavLink to="/queue">{t("nav.secondReads")}</NavLink>
          {isAdmin ? <NavLink to="/admin">{t("nav.admin")}</NavLink> : <NavLink to="/models">{t("nav.models")}</NavLink>}
        </nav>
        <div className="header-right">
          <button type="button" className="btn primary small" onClick={() => uploads.openDrawer(null)} title={t("upload.openHint")}>
            {t("upload.button")}
            {active ? <span className="count">{active}</span> : null}
          </button>
          <Bell />
          <LanguageSwitch />
          <span className="user-name" title={user?.email}>{user?.display_name || user?.email}</span>
          <button type="button" className="btn ghost small" onClick={() => void logout()}>{t("auth.logout")}</button>
        </div>
      </header>
      <main className="app-main">
        <Outlet />
      </main>
      {uploads.drawerOpen ? <UploadDrawer /> : null}
      {sessionExpired ? <SessionExpiredDialog /> : null}
    </div>
  );
}
