/** Scale bar and magnification maths. `scale` is screen CSS px per level-0 image px. */

/** A "nice" scale-bar length (1, 2, 5 × 10^k µm) whose on-screen width is at most `maxPx`. */
export function scaleBar(mppX: number, scale: number, maxPx = 120): { um: number; px: number } | null {
  if (!(mppX > 0) || !(scale > 0)) return null;
  const umPerScreenPx = mppX / scale;
  const maxUm = umPerScreenPx * maxPx;
  const pow = Math.pow(10, Math.floor(Math.log10(maxUm)));
  let um = pow;
  for (const m of [5, 2, 1]) {
    if (m * pow <= maxUm) {
      um = m * pow;
      break;
    }
  }
  return { um, px: um / umPerScreenPx };
}

export function formatLength(um: number): string {
  if (um >= 1000) return `${+(um / 1000).toPrecision(3)} mm`;
  return `${+um.toPrecision(3)} µm`;
}

/**
 * Apparent objective power. With a known pixel size, 10× ≈ 1 µm/px (40× ≈ 0.25 µm/px) by convention;
 * otherwise the scanner's objective power times the zoom.
 */
export function magnification(scale: number, mppX: number | null | undefined, objectivePower: number | null | undefined): number | null {
  if (mppX && mppX > 0) return (10 / mppX) * scale;
  if (objectivePower && objectivePower > 0) return objectivePower * scale;
  return null;
}

/** The zoom (screen px per image px) that shows the slide at `power`×. */
export function scaleForMagnification(power: number, mppX: number | null | undefined, objectivePower: number | null | undefined): number | null {
  if (mppX && mppX > 0) return (power * mppX) / 10;
  if (objectivePower && objectivePower > 0) return power / objectivePower;
  return null;
}

export function formatMagnification(m: number | null): string {
  if (m === null) return "—";
  return m >= 10 ? `${m.toFixed(0)}×` : `${m.toFixed(1)}×`;
}
