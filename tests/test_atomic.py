"""``write_atomic``: files get the usual mode, and nothing touches the process umask."""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

import pytest

import formbound._atomic


def test_no_umask_calls_at_import_or_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current = os.umask(0o022)
    os.umask(current)

    def forbidden(mask: int) -> int:
        raise AssertionError("os.umask changes process-wide state; threads race on it")

    monkeypatch.setattr(os, "umask", forbidden)
    module = importlib.reload(formbound._atomic)
    written = module.write_atomic(tmp_path / "a.txt", "x")
    assert written.read_text() == "x"
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~current
    drawn = module.write_atomic(tmp_path / "b.bin", lambda p: p.write_bytes(b"y"))
    assert stat.S_IMODE(drawn.stat().st_mode) == 0o666 & ~current
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]  # no temp file left
