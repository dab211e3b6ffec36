"""Tests for unbalanced/storage.py: project paths, atomic writes and JSON."""

from __future__ import annotations

from pathlib import Path

from unbalanced.storage import PROJECT_ROOT, resolve_path


def test_resolve_path_is_relative_to_project_root():
    assert resolve_path("runs/x") == PROJECT_ROOT / "runs" / "x"
    assert resolve_path("/tmp/abs") == Path("/tmp/abs")
