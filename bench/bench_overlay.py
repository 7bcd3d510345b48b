"""Frame times of the glomerulus overlay while panning, in Debian's Chromium (never `playwright install`).

Drives the built front end's bench route (/bench/overlay: a synthetic 100k x 80k px slide with N
polygons, default 5,000, drawn by the same SlideViewer/canvas overlay the case page uses), pans it
programmatically every animation frame and records requestAnimationFrame deltas.

    cd frontend && npm ci && cd ..
    python bench/bench_overlay.py                 # builds frontend/dist-bench (npm run build:bench) and serves it
    python bench/bench_overlay.py --url http://127.0.0.1:5173   # or against a dev server (`npm run dev`)

The /bench/overlay route is left out of production builds (`npm run build`); `npm run build:bench`
(vite --mode bench, VITE_GLOMCHECK_BENCH=1) keeps it, into frontend/dist-bench.

Prints p50/p95 frame time and FPS per scenario (whole slide in view, 5x, 20x; overlay on and off),
and the overlay's own draw time per frame.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "frontend"
DIST = FRONTEND / "dist-bench"  # a `npm run build:bench` build: production builds have no bench route
CHROMIUM = os.environ.get("GLOMCHECK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

MEASURE_JS = """
async ({durationMs, mag, panFrac, mode}) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 100 && !(window.__glomOverlay && window.__glomOverlay.viewer && window.__glomOverlay.viewer.world.getItemCount()); i++) await sleep(100);
  const v = window.__glomOverlay.viewer;
  const item = v.world.getItemAt(0);
  const cw = v.container.clientWidth;
  const imgW = item.getContentSize().x;
  v.viewport.goHome(true);
  if (mag) {
    // apparent magnification = 10 / mpp * scale with mpp = 0.25 -> scale = mag / 40
    const scale = mag / 40;
    v.viewport.zoomTo(scale * imgW / cw, null, true);
  }
  v.viewport.panTo(v.viewport.getHomeBounds().getCenter(), true);
  await sleep(1500);  // let the first tiles arrive
  const deltas = [], draws = [];
  let maxDrawn = window.__glomOverlay.drawn;
  const bounds = v.viewport.getBounds(true);
  const step = bounds.width * panFrac;
  let last = performance.now(), start = last, dir = 1, travelled = 0;
  const drawsBefore = window.__glomOverlay.draws;
  const rerendersBefore = window.__glomOverlay.rerenders || 0;
  await new Promise((resolve) => {
    function frame(now) {
      deltas.push(now - last);
      draws.push(window.__glomOverlay.lastDrawMs);
      maxDrawn = Math.max(maxDrawn, window.__glomOverlay.drawn);
      last = now;
      travelled += step;
      if (travelled > bounds.width * 3) { dir = -dir; travelled = 0; }
      if (mode === "zoom") {
        // Zoom in and out continuously: every frame changes the scale, so the overlay is re-rendered each time.
        if (deltas.length % 90 === 0) dir = -dir;
        v.viewport.zoomBy(dir > 0 ? 1.02 : 1 / 1.02, null, true);
      } else {
        v.viewport.panBy({x: step * dir, y: step * 0.3 * dir}, true);
      }
      if (now - start < durationMs) requestAnimationFrame(frame); else resolve();
    }
    requestAnimationFrame(frame);
  });
  const visible = maxDrawn;
  return {deltas: deltas.slice(5), draws: draws.slice(5), overlayDraws: window.__glomOverlay.draws - drawsBefore, rerenders: (window.__glomOverlay.rerenders || 0) - rerendersBefore, visibleAtEnd: visible, items: window.__glomOverlay.items};
}
"""


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class SpaHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from frontend/dist with SPA fallback; /api answers 404 JSON (the bench needs no API)."""

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/"):
            body = json.dumps({"error": "not_found", "detail": "bench server has no API"}).encode()
            self.send_response(404 if path != "/api/auth/me" else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not (DIST / path.lstrip("/")).is_file():
            self.path = "/index.html"
        super().do_GET()


def build_bench(force: bool) -> None:
    """`npm run build:bench` unless a bench build is already there (or --rebuild)."""
    if (DIST / "index.html").is_file() and not force:
        return
    if not (FRONTEND / "node_modules").is_dir():
        sys.exit("frontend/node_modules is missing: run `cd frontend && npm ci` first")
    print("building the front end with the bench route (npm run build:bench)…", file=sys.stderr)
    subprocess.run(["npm", "run", "build:bench"], cwd=FRONTEND, check=True, stdout=sys.stderr)


def serve_dist() -> tuple[http.server.ThreadingHTTPServer, str]:
    if not (DIST / "index.html").is_file():
        sys.exit(f"{DIST} has no build: run `cd frontend && npm ci && npm run build:bench` first")
    handler = functools.partial(SpaHandler, directory=str(DIST))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="base URL of a front end that has the bench route, e.g. `npm run dev` "
                    "(default: build and serve frontend/dist-bench here)")
    ap.add_argument("--rebuild", action="store_true", help="run `npm run build:bench` even if frontend/dist-bench exists")
    ap.add_argument("--polygons", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=5.0, help="panning time per scenario")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--json", action="store_true", help="also print the results as JSON")
    ap.add_argument("--only", help="run only scenarios whose name contains this text")
    args = ap.parse_args()

    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    srv = None
    base = args.url
    if not base:
        build_bench(args.rebuild)
        srv, base = serve_dist()
    # (name, apparent magnification or None for the whole slide, overlay on?, pan | zoom)
    scenarios = [
        ("pan, whole slide", None, 1, "pan"),
        ("pan, whole slide, no overlay", None, 0, "pan"),
        ("pan, 1x (outlines)", 1, 1, "pan"),
        ("pan, 5x", 5, 1, "pan"),
        ("pan, 5x, no overlay", 5, 0, "pan"),
        ("pan, 20x", 20, 1, "pan"),
        ("zoom in/out, whole slide", None, 1, "zoom"),
        ("zoom in/out, from 1x", 1, 1, "zoom"),
        ("zoom in/out, no overlay", 1, 0, "zoom"),
    ]
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for name, mag, overlay, mode in scenarios:
                if args.only and args.only not in name:
                    continue
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.goto(f"{base}/bench/overlay?n={args.polygons}&overlay={overlay}")
                page.wait_for_selector(".osd-host canvas")
                r = page.evaluate(MEASURE_JS, {"durationMs": args.seconds * 1000, "mag": mag, "panFrac": 0.004, "mode": mode})
                d, draws = r["deltas"], r["draws"]
                mean = statistics.fmean(d)
                results.append({
                    "scenario": name, "frames": len(d), "p50_ms": pct(d, 0.5), "p95_ms": pct(d, 0.95),
                    "max_ms": max(d), "fps": 1000.0 / mean,
                    "overlay_draw_p50_ms": pct(draws, 0.5) if overlay else 0.0,
                    "overlay_draw_p95_ms": pct(draws, 0.95) if overlay else 0.0,
                    "visible_polygons": r["visibleAtEnd"], "polygons": r["items"], "rerenders": r["rerenders"],
                })
                page.close()
        finally:
            browser.close()
            if srv:
                srv.shutdown()

    print(f"Overlay bench: {args.polygons} polygons, {args.width}x{args.height} viewport, "
          f"Chromium {CHROMIUM} ({' '.join(ARGS)}), canvas drawer, {args.seconds:.0f} s pan per scenario")
    print("frame = requestAnimationFrame delta; draw = overlay JS time per frame; re-renders = frames that "
          "re-drew the outlines (others blit the cached overlay); drawn = most polygons in one render (view + pan margin)")
    print(f"{'scenario':30} {'frames':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'FPS':>6} {'draw p50':>9} {'draw p95':>9} "
          f"{'re-renders':>10} {'drawn':>8}")
    for r in results:
        print(f"{r['scenario']:30} {r['frames']:6d} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {r['max_ms']:7.1f} {r['fps']:6.1f} "
              f"{r['overlay_draw_p50_ms']:9.2f} {r['overlay_draw_p95_ms']:9.2f} {r['rerenders']:10d} {r['visible_polygons']:8d}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
