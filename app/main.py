"""The FastAPI application: routers, error handlers, and the built front end."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from sqlalchemy import text

from app import __version__
from app.auth.router import router as auth_router
from app.db.session import get_engine
from app.errors import NotFound, install_error_handlers

FRONTEND_DIST = Path(__file__).resolve().parents[1] / "frontend" / "dist"


def create_app() -> FastAPI:
    app = FastAPI(title="glomcheck", version=__version__, openapi_url="/api/openapi.json", docs_url="/api/docs")
    install_error_handlers(app)

    @app.get("/api/health", tags=["health"], operation_id="health")
    def health() -> dict[str, str]:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    app.include_router(auth_router)
    for module in ROUTER_MODULES:
        mod = __import__(module, fromlist=["router"])
        app.include_router(mod.router)
    _mount_frontend(app)
    return app


# Domain routers, in the order their issues add them.
ROUTER_MODULES: list[str] = ["app.analysis.router", "app.cases.router", "app.slides.router", "app.uploads.router", "app.clinical.router", "app.research.router", "app.reports.router", "app.assessment.router", "app.discrepancies.router", "app.alerts.router", "app.notifications.router", "app.admin.router", "app.model_cards.router"]


def _mount_frontend(app: FastAPI) -> None:
    """Serve the Vite build (if present) with SPA fallback; API paths never fall through to it."""
    if not FRONTEND_DIST.is_dir():
        return
    index = FRONTEND_DIST / "index.html"

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str) -> FileResponse:
        if path.startswith("api/"):
            raise NotFound(f"No API route /{path}.")
        candidate = (FRONTEND_DIST / path).resolve()
        if path and candidate.is_file() and FRONTEND_DIST.resolve() in candidate.parents:
            return FileResponse(candidate)
        return FileResponse(index)
