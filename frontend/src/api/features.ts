import { useQuery } from "@tanstack/react-query";
import { http } from "./client";

/**
 * Which API areas the running backend offers, read from its OpenAPI document. Pages for areas that
 * are not there yet render a "not available yet" state instead of calling missing endpoints.
 */
export type Feature = "cases" | "uploads" | "slides" | "analysis" | "reports" | "discrepancies" | "alerts" | "notifications" | "admin" | "audit" | "models" | "clinical";

const FEATURE_PREFIXES: Record<Feature, string[]> = {
  cases: ["/api/cases"],
  uploads: ["/api/uploads"],
  slides: ["/api/slides/{"],
  analysis: ["/api/jobs/{"],
  reports: ["/api/reports", "/api/cases/{case_id}/reports", "/api/cases/{case_id}/report"],
  discrepancies: ["/api/discrepancies", "/api/cases/{case_id}/comparison", "/api/cases/{case_id}/discrepancies"],
  alerts: ["/api/alerts"],
  notifications: ["/api/notifications"],
  admin: ["/api/admin"],
  audit: ["/api/audit", "/api/cases/{case_id}/audit", "/api/cases/{case_id}/history"],
  models: ["/api/models"],
  clinical: ["/api/cases/{case_id}/clinical"],
};

export function featuresFromPaths(paths: string[]): Set<Feature> {
  const out = new Set<Feature>();
  const norm = (p: string) => p.replace(/\{[^}]*\}/g, "{}");
  const have = paths.map(norm);
  for (const [feature, prefixes] of Object.entries(FEATURE_PREFIXES) as [Feature, string[]][]) {
    if (have.some((p) => prefixes.some((pre) => p.startsWith(norm(pre))))) out.add(feature);
  }
  return out;
}

interface OpenApiDoc {
  paths?: Record<string, unknown>;
}

export function useApiPaths() {
  return useQuery({
    queryKey: ["openapi-paths"],
    queryFn: async () => Object.keys((await http<OpenApiDoc>("GET", "/api/openapi.json")).paths ?? {}),
    staleTime: 5 * 60_000,
  });
}

/** `undefined` while loading, then whether the backend offers the area. */
export function useFeature(feature: Feature): boolean | undefined {
  const q = useApiPaths();
  if (!q.data) return q.isError ? false : undefined;
  return featuresFromPaths(q.data).has(feature);
}
