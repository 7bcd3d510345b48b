export function formatDateTime(iso: string | null | undefined, lang: string): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(d);
}

export function nameOf(v: string | { display_name?: string; email?: string; code?: string; name?: string } | null | undefined): string {
  if (!v) return "—";
  if (typeof v === "string") return v;
  return v.display_name || v.name || v.code || v.email || "—";
}

/** Ignore shortcuts while the user types in a field. */
export function isTypingTarget(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
}
