"""Shared fixtures: real datasets come only from $SIGATTN_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real-data root ($SIGATTN_DATA_DIR holding cwru/ and mitdb/), or skip the test."""
    value = os.environ.get("SIGATTN_DATA_DIR")
    if not value:
        pytest.skip("SIGATTN_DATA_DIR not set: real-data test skipped")
    root = Path(value).expanduser()
    if not root.is_dir():
        pytest.skip(f"SIGATTN_DATA_DIR={value} is not a directory: real-data test skipped")
    return root
