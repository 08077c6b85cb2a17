"""`sigattn blocks`: what each attention block costs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sigattn.cli.root import app, positive, user_errors


@app.command()
def blocks(
    channels: Annotated[int, typer.Option(callback=positive, help="Channels C of the (N, C, L) input.")] = 64,
    length: Annotated[int, typer.Option(callback=positive, help="Length L of the input, in samples.")] = 1024,
    batch: Annotated[int, typer.Option(callback=positive, help="Batch size N used for timing.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print each attention block's parameters, FLOPs and forward time added over `none`."""
    from sigattn.models.costs import block_costs

    with user_errors():
        rows = block_costs(channels, length, batch)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    table = Table(title=f"Attention blocks on input ({batch}, {channels}, {length}), CPU forward")
    for column in ("block", "params added", "FLOPs added", "forward time added"):
        table.add_column(column, justify="left" if column == "block" else "right")
    for row in rows:
        table.add_row(row.block, f"{row.params:,}", f"{row.flops:,}", f"{row.added_us:,.1f} µs")
    console = Console()
    console.print(table)
    console.print("FLOPs: torch.utils.flop_counter (convolutions and matmuls; elementwise ops not counted).")
