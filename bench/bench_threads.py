"""Where the pipeline's CPU goes, thread by thread, and how busy the two cores are over time.

    python bench/bench_threads.py [--slide PATH] [--repeat 3] [--no-focus]

On two cores the end-to-end time cannot beat (all CPU seconds) / 2, so the 1.3 × compute target is a
budget for the CPU that is not the model's. This prints, per run, the CPU seconds of each thread (read
from /proc/self/task: the detector's and the classifier's onnxruntime pool threads are the ones that
appear when each session is created; Python threads by name) and the process's core use in 0.25 s
buckets, with the moment the detector finished, so an idle tail shows. Linux only. The slide is the
pipeline bench's (`bench_pipeline.py` makes it).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.slides.reader import SlideReader
from worker.pipeline import run as pipeline
from worker.pipeline.models import CLASSIFIER, DETECTOR

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every thread of this process, by native id."""
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended between listdir and open
            continue
        out[int(tid)] = (int(f[11]) + int(f[12])) / TICK
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slide", type=Path, default=Path(os.environ.get("GLOMCHECK_BENCH_DIR", "/tmp/glomcheck-bench"))
                    / "full3-seed1.tiff")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-focus", action="store_true")
    args = ap.parse_args()
    if args.no_focus:
        os.environ["GLOMCHECK_FOCUS_CHECK"] = "0"
    if not args.slide.exists():
        sys.exit(f"{args.slide} does not exist: run bench/bench_pipeline.py once to make it")

    names: dict[int, str] = {threading.get_native_id(): "main (detector caller)"}
    before = set(thread_cpu())
    # load the sessions one at a time (into the cache get_models reads) to tell their pool threads apart
    pipeline._cached_model(DETECTOR, None)
    after_det = set(thread_cpu())
    pipeline._cached_model(CLASSIFIER, None)
    after_cls = set(thread_cpu())
    names.update({t: "onnxruntime pool: detector" for t in after_det - before})
    names.update({t: "onnxruntime pool: classifier" for t in after_cls - after_det})

    with SlideReader(args.slide) as r:  # warm-up: page cache, first-call costs
        pipeline.analyze_slide_file(r)

    seen: dict[int, float] = {}
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def monitor() -> None:
        while not stop.is_set():
            for t in threading.enumerate():
                if t.native_id is not None and t.native_id not in names:
                    names[t.native_id] = t.name.split(" (")[0] if "_tiles_reader" not in t.name else "reader"
            cpu = thread_cpu()
            seen.update(cpu)
            samples.append((time.perf_counter(), time.process_time()))
            time.sleep(0.02)

    for run in range(1, args.repeat + 1):
        base = thread_cpu()
        seen.clear()
        samples.clear()
        stop.clear()
        mon = threading.Thread(target=monitor, name="monitor", daemon=True)
        mon.start()
        t0, c0 = time.perf_counter(), time.process_time()
        with SlideReader(args.slide) as r:
            res = pipeline.analyze_slide_file(r)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        stop.set()
        mon.join()
        seen.update(thread_cpu())
        per: dict[str, float] = collections.defaultdict(float)
        for tid, v in seen.items():
            per[names.get(tid, "other")] += v - base.get(tid, 0.0)
        det_end = res.timings_s["tissue"] + res.timings_s["detection"]
        buckets: list[float] = []
        for k in range(int(wall / 0.25) + 1):
            pts = [(t - t0, c) for t, c in samples if k * 0.25 <= t - t0 < (k + 1) * 0.25]
            buckets.append((pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]) if len(pts) > 1 else float("nan"))
        print(f"run {run}: end to end {wall:.2f} s, CPU {cpu:.2f} s (÷ 2 = {cpu / 2:.2f}), detector done at "
              f"{det_end:.2f} s, after it {res.timings_s['after_detection']:.2f} s")
        for name, v in sorted(per.items(), key=lambda kv: -kv[1]):
            if v >= 0.005:
                print(f"  {name:<32} {v:5.2f} CPU s")
        print("  cores busy per 0.25 s: " + " ".join(f"{b:.1f}" for b in buckets))


if __name__ == "__main__":
    main()
