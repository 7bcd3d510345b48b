from __future__ import annotations

import click

from app.db.models import Role


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--institution", "institution_code", required=True, help="Institution code (created if new).")
@click.option("--institution-name", default=None)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.pathologist.value)
@click.option("--name", "display_name", default=None)
def create_user(email: str, password: str, institution_code: str, institution_name: str | None,
                role: str, display_name: str | None) -> None:
    """Create a user (and their institution if it does not exist)."""
    from app.auth.service import create_user as create
    from app.db.session import session_scope
    from app.errors import DomainError

    try:
        with session_scope() as session:
            user = create(session, email=email, password=password, institution_code=institution_code,
                          role=Role(role), display_name=display_name, institution_name=institution_name)
            click.echo(f"created user {user.email} (id {user.id}, role {user.role}) at {institution_code}")
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
