from __future__ import annotations

import json

import click


@click.group()
def audit() -> None:
    """Audit log tools."""


@audit.command("verify")
def verify() -> None:
    """Recompute the hash chain; exit 1 if any event was changed, deleted or reordered."""
    from app.audit.service import verify_chain
    from app.db.session import session_scope

    with session_scope() as session:
        report = verify_chain(session)
    click.echo(json.dumps(report.__dict__, default=str))
    if not report.ok:
        raise SystemExit(1)
