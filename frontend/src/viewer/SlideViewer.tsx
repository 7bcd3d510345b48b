import OpenSeadragon from "openseadragon";
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import { useTranslation } from "react-i18next";
import type { OverlayItem, Rect, StyleKey, ViewTransform } from "./overlay";
import { SpatialGrid, drawOverlay, hitTest, screenToImage } from "./overlay";
import { formatLength, formatMagnification, magnification, scaleBar, scaleForMagnification } from "./scale";
import { OVERLAY_STYLES } from "./styles";

export interface SlideViewerHandle {
  flyTo(bbox: Rect, paddingFraction?: number): void;
  setMagnification(power: number): void;
  home(): void;
  viewer(): OpenSeadragon.Viewer | null;
}

export interface SlideViewerProps {
  tileSource: string | OpenSeadragon.TileSourceOptions | object;
  mppX?: number | null;
  objectivePower?: number | null;
  items: OverlayItem[];
  overlayVisible: boolean;
  enabledStyles: ReadonlySet<StyleKey>;
  selectedId?: number | null;
  highlighted?: ReadonlySet<number> | null;
  onSelect?: (id: number | null) => void;
  onOpenFailed?: (message: string) => void;
  animationTime?: number;
}

declare global {
  interface Window {
    __glomOverlay?: { draws: number; lastDrawMs: number; drawn: number; items: number; viewer: OpenSeadragon.Viewer | null; rerenders?: number };
  }
}

/** OpenSeadragon (canvas drawer) with one canvas overlay for glomerulus outlines, a scale bar and magnification. */
export const SlideViewer = forwardRef<SlideViewerHandle, SlideViewerProps>(function SlideViewer(props, ref) {
  const { t } = useTranslation();
  const hostRef = useRef<HTMLDivElement>(null);
  const viewerRef = useRef<OpenSeadragon.Viewer | null>(null);
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const magRef = useRef<HTMLSpanElement>(null);
  const barRef = useRef<HTMLDivElement>(null);
  const barLabelRef = useRef<HTMLSpanElement>(null);
  const gridRef = useRef<SpatialGrid>(new SpatialGrid([]));
  const propsRef = useRef(props);
  propsRef.current = props;
  const frameRef = useRef<number | null>(null);

  const transform = (): ViewTransform | null => {
    const v = viewerRef.current;
    const item = v?.world.getItemAt(0);
    if (!v || !item) return null;
    const a = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const b = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(10000, 10000));
    return { scale: (b.x - a.x) / 10000, tx: a.x, ty: a.y };
  };

  // The overlay is rendered into an offscreen cache with a margin around the view; pure pans then cost one
  // drawImage, and the outlines are re-rendered only on zoom, on a pan beyond the margin, or on a change.
  const cacheRef = useRef<{ canvas: HTMLCanvasElement; t: ViewTransform; w: number; h: number; dpr: number; version: number; margin: number } | null>(null);
  const versionRef = useRef(0);

  const renderCache = (tr: ViewTransform, w: number, h: number, dpr: number): number => {
    const p = propsRef.current;
    let cache = cacheRef.current;
    // While the zoom changes every frame, render just the view; once it holds still, render a margin for pans.
    const zooming = !!cache && Math.abs(tr.scale / cache.t.scale - 1) > 1e-9;
    const margin = zooming ? 0 : Math.round(Math.max(w, h) / 2);
    const cw = Math.round((w + 2 * margin) * dpr), ch = Math.round((h + 2 * margin) * dpr);
    const canvas = cache?.canvas ?? document.createElement("canvas");
    if (canvas.width !== cw || canvas.height !== ch) {
      canvas.width = cw;
      canvas.height = ch;
    }
    const ctx = canvas.getContext("2d")!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const shifted = { scale: tr.scale, tx: tr.tx + margin, ty: tr.ty + margin };
    const stats = drawOverlay(ctx, gridRef.current, shifted, w + 2 * margin, h + 2 * margin, OVERLAY_STYLES, (s) => p.enabledStyles.has(s),
      { selectedId: p.selectedId ?? null, highlighted: p.highlighted ?? null, dpr, raster: true });
    cache = { canvas, t: tr, w, h, dpr, version: versionRef.current, margin };
    cacheRef.current = cache;
    return stats.drawn;
  };

  const draw = () => {
    frameRef.current = null;
    const v = viewerRef.current;
    const canvas = canvasRef.current;
    if (!v || !canvas) return;
    const t0 = performance.now();
    const host = v.container;
    const w = host.clientWidth, h = host.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const tr = transform();
    if (!tr) return;
    // Laid out at zero size (hidden, or mid-resize): there is nothing to draw, and drawing from or into
    // a zero-sized canvas throws.
    if (!(w > 0 && h > 0)) return;
    const p = propsRef.current;
    const stats = (window.__glomOverlay ??= { draws: 0, lastDrawMs: 0, drawn: 0, items: 0, viewer: null, rerenders: 0 });
    if (p.overlayVisible && gridRef.current.items.length) {
      let c = cacheRef.current;
      const dx = c ? tr.tx - c.t.tx : 0, dy = c ? tr.ty - c.t.ty : 0;
      const reusable = c && c.version === versionRef.current && c.w === w && c.h === h && c.dpr === dpr
        && Math.abs(tr.scale / c.t.scale - 1) < 1e-9 && Math.abs(dx) <= c.margin && Math.abs(dy) <= c.margin;
      if (!reusable) {
        stats.drawn = renderCache(tr, w, h, dpr);
        stats.rerenders = (stats.rerenders ?? 0) + 1;
        c = cacheRef.current!;
      }
      const m = c!.margin;
      const sx = (m - (tr.tx - c!.t.tx)) * dpr, sy = (m - (tr.ty - c!.t.ty)) * dpr;
      ctx.drawImage(c!.canvas, sx, sy, w * dpr, h * dpr, 0, 0, w * dpr, h * dpr);
    } else {
      stats.drawn = 0;
    }
    // HUD: written to the DOM directly, not through React state, to keep panning free of re-renders.
    const mag = magnification(tr.scale, p.mppX, p.objectivePower);
    if (magRef.current) magRef.current.textContent = formatMagnification(mag);
    const bar = p.mppX ? scaleBar(p.mppX, tr.scale) : null;
    if (barRef.current && barLabelRef.current) {
      barRef.current.style.display = bar ? "" : "none";
      if (bar) {
        barRef.current.style.width = `${bar.px.toFixed(1)}px`;
        barLabelRef.current.textContent = formatLength(bar.um);
      }
    }
    stats.draws++;
    stats.lastDrawMs = performance.now() - t0;
    stats.items = gridRef.current.items.length;
    stats.viewer = v;
  };

  const schedule = () => {
    if (frameRef.current === null) frameRef.current = requestAnimationFrame(draw);
  };

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const viewer = OpenSeadragon({
      element: host,
      tileSources: props.tileSource as OpenSeadragon.TileSourceOptions,
      drawer: "canvas",
      showNavigator: true,
      navigatorPosition: "BOTTOM_RIGHT",
      navigatorSizeRatio: 0.18,
      showNavigationControl: false,
      autoHideControls: false,
      animationTime: props.animationTime ?? 0.6,
      springStiffness: 8,
      maxZoomPixelRatio: 2,
      visibilityRatio: 0.3,
      minZoomImageRatio: 0.5,
      imageLoaderLimit: 8,
      crossOriginPolicy: false,
      loadTilesWithAjax: false,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true, scrollToZoom: true },
      gestureSettingsTouch: { pinchRotate: false },
    } as OpenSeadragon.Options);
    viewerRef.current = viewer;
    const canvas = document.createElement("canvas");
    canvas.className = "glom-overlay";
    canvas.setAttribute("aria-hidden", "true");
    viewer.canvas.appendChild(canvas);
    canvasRef.current = canvas;

    for (const ev of ["animation", "update-viewport", "resize", "open", "viewport-change"] as const) viewer.addHandler(ev, schedule);
    viewer.addHandler("open-failed", (e) => {
      propsRef.current.onOpenFailed?.(String((e as { message?: string }).message ?? "open failed"));
    });
    // N/P/F belong to glomcheck (next, previous, overlay); R would rotate, which the overlay does not follow.
    viewer.addHandler("canvas-key", (e) => {
      const code = (e.originalEvent as KeyboardEvent).code;
      if (["KeyF", "KeyN", "KeyP", "KeyR", "KeyJ", "KeyK"].includes(code)) e.preventDefaultAction = true;
    });
    viewer.addHandler("canvas-click", (e) => {
      if (!e.quick) return;
      const tr = transform();
      const p = propsRef.current;
      if (!tr || !p.overlayVisible || !p.onSelect) return;
      const [x, y] = screenToImage(tr, e.position.x, e.position.y);
      const hit = hitTest(gridRef.current, x, y, (it) => it.id >= 0 && p.enabledStyles.has(it.style), 4 / tr.scale);  // ink outlines are not selectable
      p.onSelect(hit ? hit.id : null);
    });
    return () => {
      if (frameRef.current !== null) cancelAnimationFrame(frameRef.current);
      frameRef.current = null;
      viewer.destroy();
      viewerRef.current = null;
      canvasRef.current = null;
      if (window.__glomOverlay) window.__glomOverlay.viewer = null;
    };
    // The tile source identity decides the viewer's lifetime.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [typeof props.tileSource === "string" ? props.tileSource : JSON.stringify(props.tileSource)]);

  useEffect(() => {
    gridRef.current = new SpatialGrid(props.items);
    versionRef.current++;
    schedule();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.items]);

  useEffect(() => {
    versionRef.current++;
    schedule();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.overlayVisible, props.enabledStyles, props.selectedId, props.highlighted, props.mppX]);

  useImperativeHandle(ref, () => ({
    flyTo(bbox, pad = 0.6) {
      const v = viewerRef.current;
      const item = v?.world.getItemAt(0);
      if (!v || !item) return;
      const w = bbox.x1 - bbox.x0, h = bbox.y1 - bbox.y0;
      const r = item.imageToViewportRectangle(bbox.x0 - w * pad, bbox.y0 - h * pad, w * (1 + 2 * pad), h * (1 + 2 * pad));
      v.viewport.fitBoundsWithConstraints(r);
    },
    setMagnification(power) {
      const v = viewerRef.current;
      const item = v?.world.getItemAt(0);
      const tr = transform();
      const p = propsRef.current;
      if (!v || !item || !tr) return;
      const target = scaleForMagnification(power, p.mppX, p.objectivePower);
      if (!target) return;
      // Zoom is linear in screen-px-per-image-px; scale the current zoom by the ratio.
      v.viewport.zoomTo(v.viewport.getZoom() * (target / tr.scale));
    },
    home() {
      viewerRef.current?.viewport.goHome();
    },
    viewer: () => viewerRef.current,
  }));

  return (
    <div className="slide-viewer">
      <div ref={hostRef} className="osd-host" data-testid="osd-host" />
      <div className="viewer-hud" aria-live="off">
        <span className="hud-mag" title={t("viewer.magnification")}>
          <span ref={magRef}>—</span>
        </span>
        <div className="scale-bar" title={t("viewer.scaleBar")}>
          <div ref={barRef} className="scale-bar-line" />
          <span ref={barLabelRef} className="scale-bar-label" />
        </div>
      </div>
    </div>
  );
});
