"""`glomcheck deidentify IN OUT [--json]`: write a de-identified copy and print its certificate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.deid import DeidError
from app.deid import deidentify as run_deidentify


@click.command("deidentify")
@click.argument("src", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the certificate as JSON.")
@click.option(
    "--pseudonym",
    default=None,
    help="Pseudonymous case/slide name written into the copy (default: OUT's file name without extension).",
)
def deidentify(src: Path, dst: Path, as_json: bool, pseudonym: str | None) -> None:
    """De-identify the slide IN into OUT (never over IN) and print the certificate."""
    try:
        cert = run_deidentify(src, dst, pseudonym=pseudonym or dst.stem)
    except DeidError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    click.echo(cert.model_dump_json(indent=2) if as_json else cert.summary())
