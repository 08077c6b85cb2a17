"""The `sigattn` command line: one module per command group; the only package that imports typer."""

from sigattn.cli import blocks, config, data, evaluate, run, train  # noqa: F401  (each registers its commands)
from sigattn.cli import explain as explain_command  # noqa: F401
from sigattn.cli.root import app, main

__all__ = ["app", "main"]
