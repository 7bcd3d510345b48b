import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from "react";
import * as tus from "tus-js-client";
import { uploadsApi, uploadIdFromUrl, UPLOAD_ENDPOINT } from "../api/uploads";
import { ApiError } from "../api/errors";
import type { Stain } from "../api/types";
import { STAINS } from "../api/types";
import { checkFile, fileKey, guessStain } from "./files";
import { isRefusal, uploadReducer, type UploadEntry } from "./machine";

export interface InterruptedUpload {
  storageKey: string;
  name: string;
  size: number | null;
  caseId: string | null;
  stain: string | null;
  createdAt: string | null;
}

interface UploadContextValue {
  entries: UploadEntry[];
  interrupted: InterruptedUpload[];
  addFiles(files: File[], caseId: number, caseNumber: string): void;
  setStain(key: string, stain: Stain): void;
  start(key: string): void;
  startAll(): void;
  pause(key: string): void;
  resume(key: string): void;
  retry(key: string): void;
  remove(key: string): void;
  discardInterrupted(storageKey: string): void;
  drawerOpen: boolean;
  openDrawer(caseId?: number | null): void;
  closeDrawer(): void;
  drawerCaseId: number | null;
}

const UploadContext = createContext<UploadContextValue | null>(null);

export function useUploads(): UploadContextValue {
  const ctx = useContext(UploadContext);
  if (!ctx) throw new Error("useUploads outside UploadProvider");
  return ctx;
}

/** tus errors carry the server's response: turn it into the API's {error, detail}. */
export function describeTusError(err: unknown): { code: string; detail: string | null } {
  const e = err as tus.DetailedError & { originalResponse?: tus.HttpResponse | null };
  const res = e?.originalResponse;
  if (res) {
    const status = res.getStatus();
    let code = status === 413 ? "payload_too_large" : status === 415 ? "unsupported_media_type" : status === 401 ? "session_expired" : `http_${status}`;
    let detail: string | null = null;
    try {
      const body = JSON.parse(res.getBody() || "null") as { error?: string; detail?: string } | null;
      if (body?.error) code = body.error;
      if (typeof body?.detail === "string") detail = body.detail;
    } catch {
      detail = res.getBody()?.slice(0, 300) || null;
    }
    return { code, detail };
  }
  return { code: "network_error", detail: null };
}

const CHUNK = 16 * 1024 * 1024;
const POLL_MS = 1500;

export function UploadProvider({ children }: { children: ReactNode }) {
  const [entries, dispatch] = useReducer(uploadReducer, []);
  const [interrupted, setInterrupted] = useState<InterruptedUpload[]>([]);
  const [drawer, setDrawer] = useState<{ open: boolean; caseId: number | null }>({ open: false, caseId: null });
  const files = useRef(new Map<string, File>());
  const uploads = useRef(new Map<string, tus.Upload>());
  const polls = useRef(new Map<string, number>());
  const entriesRef = useRef(entries);
  entriesRef.current = entries;
  const qc = useQueryClient();

  const refreshInterrupted = useCallback(async () => {
    try {
      const all = await tus.defaultOptions.urlStorage.findAllUploads();
      setInterrupted(
        all.map((u) => ({
          storageKey: u.urlStorageKey,
          name: u.metadata?.filename ?? "?",
          size: u.size ?? null,
          caseId: u.metadata?.case_id ?? null,
          stain: u.metadata?.stain ?? null,
          createdAt: u.creationTime ?? null,
        })),
      );
    } catch {
      setInterrupted([]);
    }
  }, []);

  useEffect(() => {
    void refreshInterrupted();
    const current = uploads.current;
    const timers = polls.current;
    return () => {
      for (const u of current.values()) void u.abort();
      for (const t of timers.values()) window.clearTimeout(t);
    };
  }, [refreshInterrupted]);

  const poll = useCallback(
    (key: string, uploadUrl: string, attempt = 0) => {
      const id = uploadIdFromUrl(uploadUrl);
      uploadsApi
        .result(id)
        .then((r) => {
          if (r.status === "ready" || r.status === "duplicate" || r.status === "rejected" || r.status === "cancelled" || r.status === "expired") {
            const refused = r.status === "cancelled" || r.status === "expired";
            dispatch({ type: "result", key, status: refused ? "rejected" : r.status, slideId: r.slide_id, error: r.error ?? (refused ? r.status : null), detail: r.detail });
            polls.current.delete(key);
            void qc.invalidateQueries({ queryKey: ["cases"] });
            void qc.invalidateQueries({ queryKey: ["case"] });
            return;
          }
          polls.current.set(key, window.setTimeout(() => poll(key, uploadUrl, attempt + 1), POLL_MS));
        })
        .catch((e: unknown) => {
          // The result may not exist for a moment after the last PATCH; a few 404s are expected.
          if (e instanceof ApiError && (e.status === 404 || e.status === 0 || e.status >= 500) && attempt < 400) {
            polls.current.set(key, window.setTimeout(() => poll(key, uploadUrl, attempt + 1), POLL_MS * (e.status === 0 ? 2 : 1)));
            return;
          }
          const err = e instanceof ApiError ? e : null;
          dispatch({ type: "fail", key, code: err?.code ?? "network_error", detail: err?.detail ?? null });
        });
    },
    [qc],
  );

  const start = useCallback(
    (key: string) => {
      const entry = entriesRef.current.find((e) => e.key === key);
      const file = files.current.get(key);
      if (!entry || !file || (entry.phase !== "ready" && entry.phase !== "failed")) return;
      const upload = new tus.Upload(file, {
        endpoint: UPLOAD_ENDPOINT,
        chunkSize: CHUNK,
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        metadata: { filename: file.name, filetype: file.type || "application/octet-stream", case_id: String(entry.caseId), stain: entry.stain },
        onProgress: (sent) => dispatch({ type: "progress", key, bytesSent: sent, at: performance.now() }),
        onSuccess: () => {
          const url = upload.url ?? "";
          dispatch({ type: "sent", key, uploadUrl: url });
          void refreshInterrupted();
          poll(key, url);
        },
        onError: (err) => {
          const { code, detail } = describeTusError(err);
          const status = (err as tus.DetailedError).originalResponse?.getStatus() ?? null;
          dispatch({ type: isRefusal(status) ? "refuse" : "fail", key, code, detail });
          void refreshInterrupted();
        },
      });
      uploads.current.set(key, upload);
      dispatch({ type: "start", key });
      void upload.findPreviousUploads().then((previous) => {
        const prev = previous[0];
        if (prev) upload.resumeFromPreviousUpload(prev);
        upload.start();
      });
    },
    [poll, refreshInterrupted],
  );

  const value = useMemo<UploadContextValue>(
    () => ({
      entries,
      interrupted,
      addFiles(list, caseId, caseNumber) {
        const add = list.map((f) => {
          const key = fileKey(f, caseId);
          const check = checkFile(f.name, f.size);
          if (check.ok) files.current.set(key, f);
          // A file dropped again after a reload keeps the stain chosen before.
          const before = interrupted.find((u) => u.name === f.name && u.size === f.size && u.caseId === String(caseId));
          const stain = ((before?.stain && (STAINS as readonly string[]).includes(before.stain) ? before.stain : null) ?? guessStain(f.name) ?? "pas") as Stain;
          return { key, caseId, caseNumber, name: f.name, size: f.size, stain, invalid: check.ok ? undefined : { code: check.code ?? "wrong_type" } };
        });
        dispatch({ type: "add", entries: add });
      },
      setStain: (key, stain) => dispatch({ type: "setStain", key, stain }),
      start,
      startAll() {
        for (const e of entriesRef.current) if (e.phase === "ready") start(e.key);
      },
      pause(key) {
        const u = uploads.current.get(key);
        if (u) void u.abort(false);
        dispatch({ type: "pause", key });
      },
      resume(key) {
        const u = uploads.current.get(key);
        if (!u) return;
        dispatch({ type: "resume", key });
        u.start();
      },
      retry(key) {
        // start() accepts a failed entry; it finds the stored fingerprint and continues from the server's offset.
        start(key);
      },
      remove(key) {
        const t = polls.current.get(key);
        if (t) window.clearTimeout(t);
        uploads.current.delete(key);
        files.current.delete(key);
        dispatch({ type: "remove", key });
      },
      discardInterrupted(storageKey) {
        void tus.defaultOptions.urlStorage.removeUpload(storageKey).then(refreshInterrupted);
      },
      drawerOpen: drawer.open,
      drawerCaseId: drawer.caseId,
      openDrawer: (caseId) => setDrawer({ open: true, caseId: caseId ?? null }),
      closeDrawer: () => setDrawer((d) => ({ ...d, open: false })),
    }),
    [entries, interrupted, drawer, start, refreshInterrupted],
  );

  return <UploadContext.Provider value={value}>{children}</UploadContext.Provider>;
}
