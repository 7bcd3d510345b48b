from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Database schema management (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade_cmd(revision: str) -> None:
    """Apply migrations to GLOMCHECK_DATABASE_URL (default: the SQLite file under ./var)."""
    from app.config import get_settings
    from app.db.migrate import upgrade

    upgrade(get_settings().db_url, revision)
    click.echo(f"database at {get_settings().db_url.split('@')[-1]} is at {revision}")
