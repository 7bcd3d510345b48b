import { lazy, Suspense } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useAuth } from "./auth/AuthProvider";
import { Shell } from "./components/Shell";
import { LoginPage } from "./pages/LoginPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { WorklistPage } from "./pages/WorklistPage";

// Pages behind the worklist load on first visit: the viewer (OpenSeadragon) and the admin charts are
// most of the bundle, and the login + worklist should not wait for them.
const CasePage = lazy(() => import("./pages/CasePage").then((m) => ({ default: m.CasePage })));
const QueuePage = lazy(() => import("./pages/QueuePage").then((m) => ({ default: m.QueuePage })));
const ModelsPage = lazy(() => import("./models/ModelsPage").then((m) => ({ default: m.ModelsPage })));
const AdminPage = lazy(() => import("./pages/AdminPage").then((m) => ({ default: m.AdminPage })));

function Loading() {
  const { t } = useTranslation();
  return <div className="loading">{t("common.loading")}</div>;
}

// The overlay bench (bench/bench_overlay.py) only exists in dev and in `npm run build:bench` builds:
// Vite replaces the flag at build time, so a production bundle contains neither the route nor its code.
export const BENCH_ENABLED = import.meta.env.DEV || import.meta.env.VITE_GLOMCHECK_BENCH === "1";
const BenchOverlayPage = BENCH_ENABLED ? lazy(() => import("./pages/BenchOverlayPage").then((m) => ({ default: m.BenchOverlayPage }))) : null;

function RequireAuth() {
  const { user, loading } = useAuth();
  const { t } = useTranslation();
  const loc = useLocation();
  if (loading) return <div className="loading full">{t("common.loading")}</div>;
  if (!user) return <Navigate to={`/login?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  return <Shell />;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      {BenchOverlayPage ? <Route path="/bench/overlay" element={<Suspense fallback={null}><BenchOverlayPage /></Suspense>} /> : null}
      <Route element={<RequireAuth />}>
        <Route index element={<WorklistPage />} />
        <Route path="/cases/:caseId" element={<Suspense fallback={<Loading />}><CasePage /></Suspense>} />
        <Route path="/queue" element={<Suspense fallback={<Loading />}><QueuePage /></Suspense>} />
        <Route path="/models" element={<Suspense fallback={<Loading />}><ModelsPage /></Suspense>} />
        <Route path="/admin" element={<Suspense fallback={<Loading />}><AdminPage /></Suspense>} />
        <Route path="/admin/:section" element={<Suspense fallback={<Loading />}><AdminPage /></Suspense>} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
