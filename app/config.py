"""One typed settings object for the API, the worker and the CLI (env prefix ``GLOMCHECK_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The shipped ONNX models and their cards (one definition; the pipeline, assessment and API read it).
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"

PLACEHOLDER_SECRETS = {"", "changethis", "change-me", "dev-insecure-secret", "secret"}


class Settings(BaseSettings):
    """Runtime configuration; every default works with no server (SQLite + embedded broker)."""

    model_config = SettingsConfigDict(env_prefix="GLOMCHECK_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str | None = None
    broker_url: str | None = None
    storage_dir: Path | None = None
    secret_key: str = "dev-insecure-secret"
    public_url: str = "http://127.0.0.1:8000"

    # Uploads: the limit is checked against the declared tus length before a byte is stored.
    max_upload_bytes: int = 20 * 1024**3
    max_unzipped_bytes: int = 40 * 1024**3
    max_zip_members: int = 5000

    # Sessions and tokens.
    session_ttl_hours: int = 12
    cookie_secure: bool | None = None

    # Workers: a job whose heartbeat is older than this is considered orphaned and re-queued.
    heartbeat_interval_s: float = 5.0
    heartbeat_timeout_s: float = 30.0
    max_job_attempts: int = 3
    # Longest one analysis attempt may run: past it the pipeline is stopped at its next check and the
    # job fails with a clear error; past it plus a grace minute the heartbeat stops, so a worker hung
    # inside a C call is treated as dead by the reaper. Keep Redis's visibility_timeout above it.
    job_time_limit_s: float = Field(1800.0, gt=0)
    # Linux nice value of the pipeline's reader and post-processing threads: onnxruntime waits for its
    # slowest thread on every operator, so helpers that preempt it cost more than they add (measured on
    # 2 cores: 2.60 s vs 3.00 s per slide). 0 on a host where other processes compete for the CPU.
    pipeline_helper_nice: int = Field(10, ge=0, le=19)
    # MiB of freed memory glibc keeps mapped in a process that analyses slides, so the next tile buffers
    # reuse it instead of page-faulting fresh memory (worker/pipeline/allocator.py; bench slide: ~50,000 →
    # ~300 page faults and ~0.33 → ~0.17 s of kernel CPU per analysis, ~+150 MB peak RSS). 0: glibc's defaults.
    pipeline_malloc_retain_mb: int = Field(128, ge=0, le=2047)
    # Flag glomeruli that are out of focus (DOMAIN.md §2; worker/pipeline/focus.py). Costs ~0.7 s of CPU
    # per 134 glomeruli (half JPEG decoding at 1 µm/px, half filtering), 0.3–0.6 s of wall time on 2 cores;
    # off: no glomerulus is ever flagged out of focus.
    focus_check: bool = True
    # Find marker ink on the tissue image and leave it out of tissue, detection and classification
    # (worker/pipeline/ink.py): glomeruli bordering it are flagged "ink". Off: ink is tissue.
    ink_check: bool = True
    # Decode the JPEG/deflate/LZW tiles of plain tiled TIFF and Aperio levels directly instead of through
    # OpenSlide's compositing (identical pixels, ~5× less read CPU; app/slides/tiled_tiff.py). Off: every
    # read goes through OpenSlide (for A/B benchmarks, or a file whose tiles tifffile misreads).
    direct_tile_reads: bool = True
    embedded_worker: bool = True
    worker_concurrency: int = 1
    # Broker queue the analysis task is sent to and consumed from (routes analysis to GPU workers).
    task_queue: str = "glomcheck.analysis"
    # "module:function" replacing the default analysis pipeline (plugins, test fakes).
    analysis_pipeline: str | None = None
    # How often each worker looks for orphaned jobs; None = heartbeat_timeout_s / 3.
    reaper_interval_s: float | None = None
    # A queued job nobody picked up for this long gets its broker message sent again.
    queued_resend_after_s: float = 300.0
    # Minimum time between progress writes to a job row.
    progress_write_interval_s: float = 0.5

    # Tiles.
    slide_cache_size: int = 16
    tile_size: int = 254
    tile_overlap: int = 1
    tile_quality: int = 80

    # Models: "auto" picks CUDA when onnxruntime offers it, else CPU.
    onnx_providers: list[str] = Field(default_factory=lambda: ["auto"])
    onnx_threads: int = 0

    # E-mail.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "glomcheck@localhost"
    smtp_starttls: bool = False

    @model_validator(mode="after")
    def _fill_and_check(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite:///{(self.var_dir / 'glomcheck.db').resolve()}"
        if self.storage_dir is None:
            self.storage_dir = self.var_dir / "storage"
        if self.environment == "production" and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("GLOMCHECK_SECRET_KEY must be set to a real secret outside development")
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    @property
    def storage(self) -> Path:
        assert self.storage_dir is not None
        return self.storage_dir.resolve()

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def effective_broker_url(self) -> str:
        """Redis (or any kombu URL) when set, else kombu's SQLAlchemy transport on a SQLite file."""
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.var_dir / 'broker.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment == "production"


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    s = Settings()
    s.var_dir.mkdir(parents=True, exist_ok=True)
    s.storage.mkdir(parents=True, exist_ok=True)
    return s
