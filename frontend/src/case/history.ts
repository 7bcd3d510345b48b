/** The History tab's events (GET /api/cases/{id}/history): pure helpers, unit-tested. */

export interface HistoryEvent {
  id: number;
  ts: string;
  action: string;
  actor_user_id: number | null;
  actor_name: string | null;
  object_type: string | null;
  object_id: string | null;
  details: Record<string, unknown>;
}

/** Reading a case or a slide is audited too; the tab hides these unless asked, so changes stand out. */
export const VIEW_ACTIONS = new Set(["case.viewed", "slide.viewed"]);

export function isView(ev: Pick<HistoryEvent, "action">): boolean {
  return VIEW_ACTIONS.has(ev.action) || ev.action.endsWith(".viewed");
}

/** Tone of the dot beside an event. */
export function eventTone(action: string): "ok" | "bad" | "warn" | "info" | "neutral" {
  if (/failed|rejected|deleted/.test(action)) return "bad";
  if (/^alert\.(opened)|amendment/.test(action)) return "warn";
  if (/signed|succeeded|resolved|completed/.test(action)) return "ok";
  if (/^(analysis|assessment|comparison)\./.test(action)) return "info";
  return "neutral";
}

const SHOWN_KEYS = ["from", "to", "version", "reason", "outcome", "stage", "stain", "part", "severity", "fields", "note", "error", "changed", "state", "filename", "display_name"];

function short(v: unknown): string | null {
  if (v === null || v === undefined || v === "") return null;
  if (Array.isArray(v)) return v.length && v.every((x) => typeof x !== "object") ? v.join(", ") : null;
  if (typeof v === "object") return null;
  const s = String(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

/** The few details worth a line (state from → to, version, reason…); the rest stays in the expandable JSON. */
export function detailPairs(details: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const k of SHOWN_KEYS) {
    const v = short(details[k]);
    if (v !== null) out.push([k, v]);
  }
  return out;
}

/** Newest first, views filtered unless wanted. */
export function visibleEvents(items: HistoryEvent[], showViews: boolean): HistoryEvent[] {
  return items.filter((e) => showViews || !isView(e)).sort((a, b) => b.ts.localeCompare(a.ts) || b.id - a.id);
}
