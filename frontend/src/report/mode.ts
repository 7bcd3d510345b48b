/** Where a case's report stands, from the latest version the API returns. Pure; drives ReportPanel. */
export interface ReportLike {
  id: number;
  version: number;
  status: string; // draft | signed
  author_id: number;
  supersedes_id?: number | null;
  amendment_reason?: string | null;
}

export type ReportMode =
  | "new" // nothing yet: the first read starts here
  | "draft" // version 1, unsigned
  | "amendmentDraft" // version n > 1 opened by an amendment, unsigned
  | "signed"; // the latest version is signed: read-only, may be amended

export function reportMode(report: ReportLike | null | undefined): ReportMode {
  if (!report) return "new";
  if (report.status === "signed") return "signed";
  return report.supersedes_id ? "amendmentDraft" : "draft";
}

export function isEditable(mode: ReportMode): boolean {
  return mode !== "signed";
}

/** Only the latest signed version can be amended (the API says 409 otherwise); the UI offers it to its author. */
export function canAmend(report: ReportLike | null | undefined, userId: number | null | undefined): boolean {
  return !!report && report.status === "signed" && userId !== null && userId !== undefined && report.author_id === userId;
}

/** The server asks for a reason of 3–2000 characters. */
export function amendReasonValid(reason: string): boolean {
  const n = reason.trim().length;
  return n >= 3 && n <= 2000;
}
