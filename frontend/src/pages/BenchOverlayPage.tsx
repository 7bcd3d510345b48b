import { useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import type { Glomerulus, GlomStatus } from "../api/types";
import { FINDINGS } from "../api/types";
import { setStrokeBatch, toOverlayItems } from "../viewer/overlay";
import { SlideViewer, type SlideViewerHandle } from "../viewer/SlideViewer";
import { ALL_STYLE_KEYS } from "../viewer/styles";

/** Deterministic PRNG so every bench run draws the same polygons. */
function mulberry32(seed: number) {
  return () => {
    let t = (seed += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticGlomeruli(n: number, width: number, height: number, vertices = 32, seed = 7): Glomerulus[] {
  const rnd = mulberry32(seed);
  const statuses: GlomStatus[] = ["normal", "normal", "normal", "abnormal", "abnormal", "indeterminate", "not_assessable"];
  const out: Glomerulus[] = [];
  for (let i = 0; i < n; i++) {
    const cx = width * (0.05 + 0.9 * rnd()), cy = height * (0.05 + 0.9 * rnd());
    const r = 250 + 200 * rnd();
    const polygon: [number, number][] = [];
    for (let k = 0; k < vertices; k++) {
      const a = (2 * Math.PI * k) / vertices;
      const rr = r * (0.85 + 0.3 * rnd());
      polygon.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
    }
    const findings: Record<string, number> = {};
    for (const f of FINDINGS) findings[f] = rnd() * rnd();
    const status = statuses[Math.floor(rnd() * statuses.length)]!;
    if (status === "abnormal") findings[FINDINGS[Math.floor(rnd() * FINDINGS.length)]!] = 0.7 + 0.3 * rnd();
    const xs = polygon.map((p) => p[0]), ys = polygon.map((p) => p[1]);
    out.push({ id: i + 1, index: i, polygon, bbox: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], detection_score: 0.5 + 0.5 * rnd(), findings, status });
  }
  return out;
}

function tileDataUrls(): string[] {
  const urls: string[] = [];
  const tints = ["#e8c6d8", "#f1d5e2", "#dcb3cb", "#efe2ea"];
  for (const tint of tints) {
    const c = document.createElement("canvas");
    c.width = c.height = 256;
    const ctx = c.getContext("2d")!;
    ctx.fillStyle = tint;
    ctx.fillRect(0, 0, 256, 256);
    const rnd = mulberry32(tint.length + tint.charCodeAt(2));
    for (let i = 0; i < 120; i++) {
      ctx.fillStyle = `rgba(${90 + rnd() * 60}, ${30 + rnd() * 40}, ${110 + rnd() * 60}, 0.5)`;
      ctx.beginPath();
      ctx.arc(rnd() * 256, rnd() * 256, 2 + rnd() * 5, 0, Math.PI * 2);
      ctx.fill();
    }
    urls.push(c.toDataURL("image/jpeg", 0.8));
  }
  return urls;
}

/**
 * /bench/overlay — a synthetic 100k × 80k px slide with N glomerulus polygons (default 5,000), used by
 * bench/bench_overlay.py to measure frame times while panning. `?slide=<id>` uses a real slide's tiles.
 */
export function BenchOverlayPage() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const n = Number(params.get("n") ?? 5000);
  if (params.get("batch")) setStrokeBatch(Number(params.get("batch")));
  const slideId = params.get("slide");
  const width = 100_000, height = 80_000;
  const gloms = useMemo(() => syntheticGlomeruli(n, width, height), [n]);
  const items = useMemo(() => toOverlayItems(gloms), [gloms]);
  const enabled = useMemo(() => new Set(ALL_STYLE_KEYS), []);
  const [overlay, setOverlay] = useState(params.get("overlay") !== "0");
  const viewerRef = useRef<SlideViewerHandle>(null);
  const tileSource = useMemo(() => {
    if (slideId) return `/api/slides/${slideId}/dzi`;
    const urls = tileDataUrls();
    return { width, height, tileSize: 256, tileOverlap: 0, minLevel: 0, getTileUrl: (level: number, x: number, y: number) => urls[(level + x + y) % urls.length]! };
  }, [slideId]);
  return (
    <div className="bench-page">
      <div className="bench-bar">
        <strong>{t("bench.title", { count: n })}</strong>
        <label><input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} /> {t("viewer.overlay")}</label>
      </div>
      <SlideViewer ref={viewerRef} tileSource={tileSource} mppX={0.25} objectivePower={40} items={items} overlayVisible={overlay} enabledStyles={enabled} animationTime={0} />
    </div>
  );
}
