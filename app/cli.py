"""`glomcheck` console script: a lazy click group so `glomcheck --help` never imports torch or OpenSlide."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

# command name -> "module:attribute" of a click.Command; each lives beside the code it drives.
COMMANDS: dict[str, str] = {
    "serve": "app.commands.serve:serve",
    "worker": "worker.cli:worker",
    "db": "app.commands.db:db",
    "create-user": "app.commands.users:create_user",
    "demo": "app.commands.demo:demo",
    "audit": "app.commands.audit:audit",
    "synth": "worker.synth.cli:synth",
    "train": "models.training.cli:train",
    "analyze": "worker.pipeline.cli:analyze",
    "evaluate": "worker.evaluation.cli:evaluate",
    "evaluate-crops": "worker.evaluation.cli:evaluate_crops",
    "deidentify": "app.deid.cli:deidentify",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _exists(COMMANDS[name]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd: Any = getattr(importlib.import_module(module), attr)
        return cmd  # type: ignore[no-any-return]


def _exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None if _parent_exists(target) else False


def _parent_exists(target: str) -> bool:
    parts = target.split(":")[0].split(".")
    for i in range(1, len(parts)):
        if importlib.util.find_spec(".".join(parts[:i])) is None:
            return False
    return True


@click.group(cls=LazyGroup)
@click.version_option(package_name="glomcheck")
def main() -> None:
    """glomcheck: AI double-check of renal biopsy pathology."""
