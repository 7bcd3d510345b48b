import { useTranslation } from "react-i18next";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useAuth } from "./auth/AuthProvider";
import { Shell } from "./components/Shell";
import { AdminPage } from "./pages/AdminPage";
import { BenchOverlayPage } from "./pages/BenchOverlayPage";
import { CasePage } from "./pages/CasePage";
import { LoginPage } from "./pages/LoginPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { QueuePage } from "./pages/QueuePage";
import { WorklistPage } from "./pages/WorklistPage";

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
      <Route path="/bench/overlay" element={<BenchOverlayPage />} />
      <Route element={<RequireAuth />}>
        <Route index element={<WorklistPage />} />
        <Route path="/cases/:caseId" element={<CasePage />} />
        <Route path="/queue" element={<QueuePage />} />
        <Route path="/admin" element={<AdminPage />} />
        <Route path="/admin/:section" element={<AdminPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
