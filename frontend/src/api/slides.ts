import { http } from "./client";
import type { Glomerulus, Job, SlideSummary } from "./types";

export const slideUrls = {
  dzi: (id: number) => `/api/slides/${id}/dzi`,
  thumbnail: (id: number) => `/api/slides/${id}/thumbnail.jpg`,
};

/** The backend may answer a bare list or {items}. */
function items<T>(data: T[] | { items: T[] }): T[] {
  return Array.isArray(data) ? data : data.items;
}

export interface SlideGlomeruli {
  /** The latest succeeded analysis; null when none has succeeded yet. */
  job: Job | null;
  glomeruli: Glomerulus[];
}

export const slidesApi = {
  get: (id: number) => http<SlideSummary>("GET", `/api/slides/${id}`),
  glomeruli: async (id: number): Promise<SlideGlomeruli> => {
    const data = await http<SlideGlomeruli | Glomerulus[] | { items: Glomerulus[] }>("GET", `/api/slides/${id}/glomeruli`);
    if (data && !Array.isArray(data) && "glomeruli" in data) return data;
    return { job: null, glomeruli: items(data as Glomerulus[] | { items: Glomerulus[] }) };
  },
  /** Analysis jobs of the slide, newest first. */
  jobs: (id: number) => http<Job[]>("GET", `/api/slides/${id}/jobs`),
  analyze: (id: number) => http<Job>("POST", `/api/slides/${id}/analyze`, {}),
};

export const jobsApi = {
  get: (id: number) => http<Job>("GET", `/api/jobs/${id}`),
  cancel: (id: number) => http<Job>("POST", `/api/jobs/${id}/cancel`, {}),
  eventsUrl: (id: number) => `/api/jobs/${id}/events`,
};
