import { api, unwrap } from "./client";
import type { components } from "./schema.gen";
import { GLOM_STATUSES, type Glomerulus, type GlomStatus } from "./types";

export type SlideOut = components["schemas"]["SlideOut"];
export type JobOut = components["schemas"]["JobOut"];
type GlomerulusOut = components["schemas"]["GlomerulusOut"];

/** The viewer's view of the API's glomeruli: tuple polygons and a status the UI knows. */
export interface SlideGlomeruli {
  job: JobOut | null;
  glomeruli: Glomerulus[];
}

export function toGlomerulus(g: GlomerulusOut): Glomerulus {
  const status = (GLOM_STATUSES as readonly string[]).includes(g.status) ? (g.status as GlomStatus) : "indeterminate";
  return {
    ...g,
    status,
    polygon: g.polygon.map((p) => [p[0] ?? 0, p[1] ?? 0] as [number, number]),
    bbox: [g.bbox[0] ?? 0, g.bbox[1] ?? 0, g.bbox[2] ?? 0, g.bbox[3] ?? 0],
  };
}

export const slideUrls = {
  dzi: (id: number) => `/api/slides/${id}/dzi`,
  tiles: (id: number) => `/api/slides/${id}/dzi_files`,
  thumbnail: (id: number) => `/api/slides/${id}/thumbnail.jpg`,
  /** QuPath-compatible GeoJSON of the latest analysis (a plain link: the session cookie authenticates it). */
  glomeruliGeojson: (id: number) => `/api/slides/${id}/glomeruli.geojson`,
};

export const slidesApi = {
  get: (id: number) => unwrap<SlideOut>(api.GET("/api/slides/{slide_id}", { params: { path: { slide_id: id } } })),
  /** Glomeruli of the latest succeeded analysis (`job` null when none has succeeded yet). */
  glomeruli: async (id: number): Promise<SlideGlomeruli> => {
    const r = await unwrap<components["schemas"]["SlideGlomeruliOut"]>(api.GET("/api/slides/{slide_id}/glomeruli", { params: { path: { slide_id: id } } }));
    return { job: r.job ?? null, glomeruli: r.glomeruli.map(toGlomerulus) };
  },
  /** Analysis jobs of the slide, newest first. */
  jobs: (id: number) => unwrap<JobOut[]>(api.GET("/api/slides/{slide_id}/jobs", { params: { path: { slide_id: id } } })),
  analyze: (id: number) => unwrap<JobOut>(api.POST("/api/slides/{slide_id}/analyze", { params: { path: { slide_id: id } }, body: {} })),
};

export const jobsApi = {
  get: (id: number) => unwrap<JobOut>(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: id } } })),
  cancel: (id: number) => unwrap<JobOut>(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: id } } })),
  eventsUrl: (id: number) => `/api/jobs/${id}/events`,
};
