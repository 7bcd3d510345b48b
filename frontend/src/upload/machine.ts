/**
 * The upload list as a pure state machine. One entry per dropped file:
 *
 *   invalid                         (refused before sending: wrong type, empty)
 *   ready ──start──▶ uploading ──pause──▶ paused ──resume──▶ uploading
 *                       │  ╰──fail──▶ failed ──retry──▶ uploading
 *                       ├──refuse──▶ rejected   (the server refused the file itself: 415/422 on a PATCH)
 *                       ╰──sent──▶ processing ──result──▶ done (ready | duplicate) | rejected
 *
 * Speed is an exponentially weighted average over progress events; time left follows from it.
 */
import type { Stain } from "../api/types";

export type UploadPhase = "invalid" | "ready" | "uploading" | "paused" | "processing" | "done" | "rejected" | "failed";

export interface UploadEntry {
  key: string;
  caseId: number;
  caseNumber: string;
  name: string;
  size: number;
  stain: Stain;
  phase: UploadPhase;
  bytesSent: number;
  /** Bytes per second (smoothed); null until two progress samples exist. */
  speed: number | null;
  lastSample: { at: number; bytes: number } | null;
  uploadUrl: string | null;
  resumed: boolean;
  slideId: number | null;
  outcome: "ready" | "duplicate" | null;
  /** Machine-readable error code (i18n key suffix) and the server's own words. */
  errorCode: string | null;
  errorDetail: string | null;
}

export type UploadAction =
  | { type: "add"; entries: Array<Pick<UploadEntry, "key" | "caseId" | "caseNumber" | "name" | "size" | "stain"> & { invalid?: { code: string; detail?: string } }> }
  | { type: "setStain"; key: string; stain: Stain }
  | { type: "start"; key: string; resumedBytes?: number }
  | { type: "progress"; key: string; bytesSent: number; at: number }
  | { type: "pause"; key: string }
  | { type: "resume"; key: string }
  | { type: "sent"; key: string; uploadUrl: string }
  | { type: "result"; key: string; status: string; slideId?: number | null; error?: string | null; detail?: string | null }
  | { type: "fail"; key: string; code: string; detail?: string | null }
  | { type: "refuse"; key: string; code: string; detail?: string | null }
  | { type: "retry"; key: string }
  | { type: "remove"; key: string };

const SPEED_ALPHA = 0.3;

export function newEntry(e: Pick<UploadEntry, "key" | "caseId" | "caseNumber" | "name" | "size" | "stain">): UploadEntry {
  return { ...e, phase: "ready", bytesSent: 0, speed: null, lastSample: null, uploadUrl: null, resumed: false, slideId: null, outcome: null, errorCode: null, errorDetail: null };
}

function update(state: UploadEntry[], key: string, fn: (e: UploadEntry) => UploadEntry): UploadEntry[] {
  return state.map((e) => (e.key === key ? fn(e) : e));
}

export function uploadReducer(state: UploadEntry[], action: UploadAction): UploadEntry[] {
  switch (action.type) {
    case "add": {
      const known = new Set(state.map((e) => e.key));
      const added = action.entries
        .filter((e) => !known.has(e.key))
        .map((e) => {
          const entry = newEntry(e);
          return e.invalid ? { ...entry, phase: "invalid" as const, errorCode: e.invalid.code, errorDetail: e.invalid.detail ?? null } : entry;
        });
      return [...state, ...added];
    }
    case "setStain":
      return update(state, action.key, (e) => (e.phase === "ready" || e.phase === "failed" ? { ...e, stain: action.stain } : e));
    case "start":
      return update(state, action.key, (e) =>
        e.phase === "ready" || e.phase === "failed"
          ? { ...e, phase: "uploading", errorCode: null, errorDetail: null, bytesSent: action.resumedBytes ?? e.bytesSent, resumed: (action.resumedBytes ?? 0) > 0, lastSample: null, speed: null }
          : e,
      );
    case "progress":
      return update(state, action.key, (e) => {
        if (e.phase !== "uploading") return e;
        let speed = e.speed;
        if (e.lastSample && action.at > e.lastSample.at) {
          const inst = ((action.bytesSent - e.lastSample.bytes) * 1000) / (action.at - e.lastSample.at);
          speed = speed === null ? inst : SPEED_ALPHA * inst + (1 - SPEED_ALPHA) * speed;
        }
        return { ...e, bytesSent: Math.min(action.bytesSent, e.size), speed, lastSample: { at: action.at, bytes: action.bytesSent } };
      });
    case "pause":
      return update(state, action.key, (e) => (e.phase === "uploading" ? { ...e, phase: "paused", speed: null, lastSample: null } : e));
    case "resume":
      return update(state, action.key, (e) => (e.phase === "paused" ? { ...e, phase: "uploading" } : e));
    case "sent":
      return update(state, action.key, (e) => (e.phase === "uploading" ? { ...e, phase: "processing", bytesSent: e.size, speed: null, uploadUrl: action.uploadUrl } : e));
    case "result":
      return update(state, action.key, (e) => {
        if (e.phase !== "processing") return e;
        if (action.status === "ready" || action.status === "duplicate")
          return { ...e, phase: "done", outcome: action.status, slideId: action.slideId ?? null, errorDetail: action.detail ?? null };
        if (action.status === "rejected") return { ...e, phase: "rejected", errorCode: action.error ?? "rejected", errorDetail: action.detail ?? null };
        return e; // still processing
      });
    case "fail":
      return update(state, action.key, (e) =>
        e.phase === "uploading" || e.phase === "processing" || e.phase === "paused"
          ? { ...e, phase: "failed", speed: null, errorCode: action.code, errorDetail: action.detail ?? null }
          : e,
      );
    case "refuse":
      // A definitive refusal (the file is not a slide, a zip holds none…): retrying would only fail again.
      return update(state, action.key, (e) =>
        e.phase === "uploading" || e.phase === "processing" || e.phase === "paused"
          ? { ...e, phase: "rejected", speed: null, errorCode: action.code, errorDetail: action.detail ?? null }
          : e,
      );
    case "retry":
      return update(state, action.key, (e) => (e.phase === "failed" ? { ...e, phase: "ready" } : e));
    case "remove":
      return state.filter((e) => e.key !== action.key || e.phase === "uploading" || e.phase === "processing");
  }
}

/** Seconds left at the current speed, or null when unknown. */
export function timeLeft(e: UploadEntry): number | null {
  if (e.phase !== "uploading" || !e.speed || e.speed <= 0) return null;
  return (e.size - e.bytesSent) / e.speed;
}

export function fraction(e: UploadEntry): number {
  if (e.phase === "done" || e.phase === "processing") return 1;
  return e.size > 0 ? e.bytesSent / e.size : 0;
}

export function isActive(e: UploadEntry): boolean {
  return e.phase === "uploading" || e.phase === "processing";
}

/** HTTP statuses that mean "this file will never be accepted" (as opposed to a network or session problem). */
export function isRefusal(status: number | null | undefined): boolean {
  return status === 415 || status === 422;
}
