import { useEffect, useState } from "react";

export interface JobProgress {
  state: string | null;
  stage: string | null;
  /** 0..1 */
  progress: number | null;
  error: string | null;
  connected: boolean;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Progress is sent as 0..1 or 0..100 depending on the producer; normalise to 0..1. */
export function normaliseProgress(p: unknown): number | null {
  const n = typeof p === "number" ? p : typeof p === "string" ? Number(p) : NaN;
  if (!Number.isFinite(n)) return null;
  return Math.max(0, Math.min(1, n > 1 ? n / 100 : n));
}

/** Fold one SSE message (named event or a JSON object) into the progress state. */
export function applyJobEvent(prev: JobProgress, event: string, data: string): JobProgress {
  let payload: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(data);
    payload = parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : { [event]: parsed };
  } catch {
    payload = { [event]: data };
  }
  const next = { ...prev };
  if (typeof payload.state === "string") next.state = payload.state;
  if (typeof payload.stage === "string" || payload.stage === null) next.stage = (payload.stage as string | null) ?? next.stage;
  if ("progress" in payload) next.progress = normaliseProgress(payload.progress) ?? next.progress;
  if (typeof payload.error === "string") next.error = payload.error;
  return next;
}

/** Live analysis progress from GET /api/jobs/{id}/events (Server-Sent Events). */
export function useJobProgress(jobId: number | null | undefined, initial?: Partial<JobProgress>): JobProgress {
  const [state, setState] = useState<JobProgress>({ state: null, stage: null, progress: null, error: null, connected: false, ...initial });
  useEffect(() => {
    if (!jobId) return;
    setState((s) => ({ ...s, ...initial }));
    if (initial?.state && TERMINAL.has(initial.state)) return;
    const es = new EventSource(`/api/jobs/${jobId}/events`, { withCredentials: true });
    const handle = (name: string) => (ev: MessageEvent<string>) => {
      setState((s) => {
        const next = applyJobEvent(s, name, ev.data);
        if (next.state && TERMINAL.has(next.state)) es.close();
        return { ...next, connected: !(next.state && TERMINAL.has(next.state)) };
      });
    };
    es.onopen = () => setState((s) => ({ ...s, connected: true }));
    es.onmessage = handle("message");
    for (const name of ["job", "end", "state", "stage", "progress"]) es.addEventListener(name, handle(name) as EventListener);
    es.onerror = () => setState((s) => ({ ...s, connected: false }));
    return () => es.close();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId]);
  return state;
}
