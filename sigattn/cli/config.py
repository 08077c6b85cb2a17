"""`sigattn config schema`: the JSON Schema of the run YAML, for completion and checks in editors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sigattn.cli.root import app, user_errors

config_app = typer.Typer(help="The run config file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("schema")
def config_schema(
    out: Annotated[Path | None, typer.Option(help="Write the schema to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the run config YAML.

    Editors that read YAML through yaml-language-server complete and check a run config whose
    first line is `# yaml-language-server: $schema=FILE`."""
    from sigattn.config import run_config_schema
    from sigattn.outputs import write_atomically

    with user_errors():
        text = json.dumps(run_config_schema(), indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        write_atomically(out.expanduser(), text)
    typer.echo(f"wrote the run config schema to {out}", err=True)
