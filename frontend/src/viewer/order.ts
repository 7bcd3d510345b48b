import type { Rect } from "./overlay";

/**
 * Reading order for N/P: bands of one typical glomerulus height, left to right within a band,
 * like a pathologist scanning a section row by row.
 */
export function readingOrder<T>(items: T[], bbox: (t: T) => Rect): T[] {
  if (!items.length) return [];
  const heights = items.map((t) => bbox(t).y1 - bbox(t).y0).sort((a, b) => a - b);
  const band = Math.max(1, heights[heights.length >> 1]!);
  return [...items].sort((a, b) => {
    const A = bbox(a), B = bbox(b);
    const ba = Math.floor((A.y0 + A.y1) / 2 / band), bb = Math.floor((B.y0 + B.y1) / 2 / band);
    return ba !== bb ? ba - bb : A.x0 - B.x0;
  });
}

/** Next (+1) or previous (-1) index, wrapping; from "nothing selected" N goes to the first, P to the last. */
export function step(current: number, length: number, dir: 1 | -1): number {
  if (length === 0) return -1;
  if (current < 0) return dir === 1 ? 0 : length - 1;
  return (current + dir + length) % length;
}
