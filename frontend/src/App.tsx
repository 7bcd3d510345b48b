import { lazy, Suspense } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useAuth } from "./auth/AuthProvider";
import { Shell } from "./components/Shell";
import { AdminPage } from "./pages/AdminPage";
import { CasePage } from "./pages/CasePage";
import { LoginPage } from "./pages/LoginPage";
import { ModelsPage } from "./models/ModelsPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { QueuePage } from "./pages/QueuePage";
import { WorklistPage } from "./pages/WorklistPage";

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
        <Route path="/cases/:caseId" element={<CasePage />} />
        <Route path="/queue" element={<QueuePage />} />
        <Route path="/models" element={<ModelsPage />} />
        <Route path="/admin" element={<AdminPage />} />
        <Route path="/admin/:section" element={<AdminPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
