/** What the drop zone accepts, checked before a byte is sent (the server checks again). */
export const SLIDE_EXTENSIONS = [".svs", ".ndpi", ".tif", ".tiff", ".scn", ".bif", ".vms", ".svslide", ".zip"] as const;

export interface FileCheck {
  ok: boolean;
  code?: "wrong_type" | "empty" | "mrxs_needs_zip" | "dicom_needs_zip";
}

export function checkFile(name: string, size: number): FileCheck {
  const lower = name.toLowerCase();
  if (lower.endsWith(".mrxs")) return { ok: false, code: "mrxs_needs_zip" };
  if (lower.endsWith(".dcm")) return { ok: false, code: "dicom_needs_zip" };
  if (!SLIDE_EXTENSIONS.some((ext) => lower.endsWith(ext))) return { ok: false, code: "wrong_type" };
  if (size <= 0) return { ok: false, code: "empty" };
  return { ok: true };
}

/** A stable key per file, the same after a reload, so a re-dropped file finds its tus upload. */
export function fileKey(f: Pick<File, "name" | "size" | "lastModified">, caseId: number | string): string {
  return `${caseId}:${f.name}:${f.size}:${f.lastModified}`;
}

/** Guess the stain from the file name (e.g. "B-123_PAS.svs"); the user can change it. */
export function guessStain(name: string): "pas" | "pam" | "mt" | "he" | "azan" | "other" | null {
  const n = name.toLowerCase();
  if (/(^|[^a-z])pas([^a-z]|$)/.test(n)) return "pas";
  if (/(^|[^a-z])(pam|silver|jones)([^a-z]|$)/.test(n)) return "pam";
  if (/(^|[^a-z])(mt|masson|trichrome)([^a-z]|$)/.test(n)) return "mt";
  if (/(^|[^a-z])(he|h&e|hande)([^a-z]|$)/.test(n)) return "he";
  if (/(^|[^a-z])azan([^a-z]|$)/.test(n)) return "azan";
  return null;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "—";
  const sec = Math.round(s);
  if (sec < 60) return `${sec} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} min ${sec % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
