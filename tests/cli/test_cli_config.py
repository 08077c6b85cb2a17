"""`sigattn config schema`: the run config's JSON Schema on stdout or in a file."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.config import run_config_schema

runner = CliRunner()


def test_config_schema_prints_the_schema_or_writes_it_to_a_file(tmp_path):
    printed = runner.invoke(app, ["config", "schema"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == run_config_schema()
    out = tmp_path / "run.schema.json"
    written = runner.invoke(app, ["config", "schema", "--out", str(out)])
    assert written.exit_code == 0 and written.stdout == "", written.output
    assert json.loads(out.read_text()) == run_config_schema() and str(out) in written.stderr
