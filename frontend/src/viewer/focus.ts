/** What the out-of-focus check found on a slide, for the AI panel (worker/pipeline/focus.py). */

export interface FocusSummary {
  /** The slide's own tissue is below the absolute sharpness floor: every glomerulus is not assessable. */
  slideBlurred: boolean;
  /** Glomeruli carrying the `out_of_focus` flag. */
  outOfFocus: number;
  /** The focus check ran for this analysis (older analyses and `GLOMCHECK_FOCUS_CHECK=0` did not). */
  checked: boolean;
}

/** The `stats` the worker writes into a job's result (tiles, focus reference, ink…); {} when absent. */
export function resultStats(result: Record<string, unknown> | null | undefined): Record<string, unknown> {
  return result && typeof result.stats === "object" && result.stats !== null ? (result.stats as Record<string, unknown>) : {};
}

/** Read the summary from the job's result (`stats`, written by the worker) and the glomeruli's flags. */
export function focusSummary(result: Record<string, unknown> | null | undefined, gloms: { flags?: string[] | null }[]): FocusSummary {
  const stats = resultStats(result);
  return {
    slideBlurred: stats.slide_blurred === true,
    outOfFocus: gloms.filter((g) => g.flags?.includes("out_of_focus")).length,
    checked: typeof stats.focus_version === "string" && stats.focus_version !== "",
  };
}
