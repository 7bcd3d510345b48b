"""Upload benchmark: tus upload throughput through the real API (a uvicorn subprocess) against a raw
disk write of the same bytes in the same run, and the server's peak RSS while a large file streams in.

    python bench/bench_upload.py --size-gb 2 [--chunk-mb 256] [--database-url postgresql://...]

The server must keep its memory flat: bytes go socket → bounded buffer → disk. The file is random
bytes, so the final PATCH measures ingest up to the format check (SHA-256 of the whole file, sniff,
refusal and cleanup); throughput is measured on the PATCHes before it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD = "bench@h1.example", "bench-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real `uvicorn app.main:create_app` subprocess on its own SQLite (or given) database."""

    def __init__(self, workdir: Path, database_url: str | None = None, **env: str) -> None:
        self.workdir = workdir
        self.db_url = database_url or f"sqlite:///{workdir / 'var' / 'glomcheck.db'}"
        self.env = {
            **os.environ,
            "GLOMCHECK_DATABASE_URL": self.db_url,
            "GLOMCHECK_VAR_DIR": str(workdir / "var"),
            "GLOMCHECK_STORAGE_DIR": str(workdir / "storage"),
            "GLOMCHECK_ENVIRONMENT": "development",
            "GLOMCHECK_EMBEDDED_WORKER": "false",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def prepare(self) -> None:
        """Migrate the database and create the bench user (in this process, same settings)."""
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("GLOMCHECK_")})
        (self.workdir / "var").mkdir(parents=True, exist_ok=True)
        from app.auth.service import create_user
        from app.config import get_settings
        from app.db.migrate import upgrade
        from app.db.models import Role
        from app.db.session import reset_engine, session_scope

        get_settings.cache_clear()
        reset_engine()
        upgrade(self.db_url)
        with session_scope() as s:
            create_user(s, email=EMAIL, password=PASSWORD, institution_code="H1", role=Role.pathologist)
        reset_engine()

    def start(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=REPO, env=self.env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("uvicorn did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self) -> str:
        with httpx.Client(base_url=self.url) as c:
            assert c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD}).status_code == 200
            return str(c.post("/api/auth/tokens", json={"name": "bench"}).json()["token"])


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.p = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = self.p.memory_info().rss
            self.samples.append(rss)
            self.peak = max(self.peak, rss)
            time.sleep(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def make_source(path: Path, size: int) -> None:
    block = os.urandom(64 << 20)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
        f.flush()
        os.fsync(f.fileno())  # so its write-back does not compete with the timed runs


def read_range(path: Path, start: int, length: int, block: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = length
        while left:
            data = f.read(min(block, left))
            if not data:
                return
            left -= len(data)
            yield data


def raw_write(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in read_range(src, 0, src.stat().st_size, 2 << 20):
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--chunk-mb", type=int, default=256, help="tus PATCH size (tus-js-client chunkSize)")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--workdir", default=None, help="default: a temp dir next to the repo (same disk)")
    args = ap.parse_args()

    size = int(args.size_gb * (1 << 30))
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-upload-", dir=REPO.parent))
    server = LiveServer(base, args.database_url, GLOMCHECK_MAX_UPLOAD_BYTES=str(size * 2))
    server.prepare()
    src = base / "source.bin"
    make_source(src, size)
    server.start()
    try:
        assert server.proc is not None
        token = server.token()
        h = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=h, timeout=600) as c:
            case_id = c.post("/api/cases").json()["id"]
            # warm up the process (imports, first DB connections) before the baseline
            for _ in range(3):
                c.get(f"/api/cases/{case_id}")
            time.sleep(0.5)
            baseline = psutil.Process(server.proc.pid).memory_info().rss

            raw_before = raw_write(src, base / "storage" / "raw.bin")
            (base / "storage" / "raw.bin").unlink()

            meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                            for k, v in {"filename": "bench.svs", "case_id": str(case_id), "stain": "pas"}.items())
            tus = {"Tus-Resumable": "1.0.0"}
            r = c.post("/api/uploads", headers={**tus, "Upload-Length": str(size), "Upload-Metadata": meta})
            assert r.status_code == 201, r.text
            url = r.headers["Location"]
            sampler = RssSampler(server.proc.pid)
            sampler.start()
            chunk = args.chunk_mb << 20
            offset = 0
            t0 = time.perf_counter()
            body_end = size - 1  # the last byte goes alone, so transfer and ingest are timed apart
            while offset < body_end:
                n = min(chunk, body_end - offset)
                r = c.patch(url, content=read_range(src, offset, n), headers={
                    **tus, "Upload-Offset": str(offset), "Content-Length": str(n),
                    "Content-Type": "application/offset+octet-stream"})
                assert r.status_code == 204, r.text
                offset = int(r.headers["Upload-Offset"])
            transfer_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            r = c.patch(url, content=read_range(src, offset, 1), headers={
                **tus, "Upload-Offset": str(offset), "Content-Length": "1",
                "Content-Type": "application/offset+octet-stream"})
            ingest_s = time.perf_counter() - t1
            sampler.stop()
            final = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            leftovers = [p for p in (base / "storage").rglob("*") if p.is_file()]
            raw_after = raw_write(src, base / "storage" / "raw.bin")  # same disk state as the API run
            (base / "storage" / "raw.bin").unlink()
            raw_s = (raw_before + raw_after) / 2
        mib = size / (1 << 20)
        result = {
            "size_bytes": size,
            "chunk_mb": args.chunk_mb,
            "database": "postgresql" if args.database_url else "sqlite",
            "raw_disk_write_mib_s": round(mib / raw_s, 1),
            "raw_disk_write_runs_mib_s": [round(mib / raw_before, 1), round(mib / raw_after, 1)],
            "api_tus_upload_mib_s": round(mib / transfer_s, 1),
            "api_vs_raw": round(raw_s / transfer_s, 2),
            "final_patch_ingest_s": round(ingest_s, 2),
            "final_patch_status": r.status_code,
            "final_patch_error": final.get("error"),
            "server_rss_baseline_mib": round(baseline / (1 << 20), 1),
            "server_rss_peak_mib": round(sampler.peak / (1 << 20), 1),
            "server_rss_growth_mib": round((sampler.peak - baseline) / (1 << 20), 1),
            "rss_samples": len(sampler.samples),
            "storage_leftover_files": len(leftovers),
        }
        print(json.dumps(result, indent=2))
    finally:
        server.stop()
        src.unlink(missing_ok=True)
        if not args.workdir:
            import shutil

            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
