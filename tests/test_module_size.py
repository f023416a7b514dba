"""Every module under src/formbound stays under 400 lines, or says in its docstring why it does not.

A module that must stay longer carries a line in its docstring that starts with "Longer than 400 lines
because", followed by the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import formbound

ROOT = Path(formbound.__file__).parent
LIMIT = 400
JUSTIFICATION = "Longer than 400 lines because"


def _too_long() -> list[str]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if JUSTIFICATION not in doc:
            out.append(f"{rel}: {lines} lines")
    return out


def test_modules_stay_under_the_line_limit_or_say_why() -> None:
    too_long = _too_long()
    assert not too_long, (
        f"split these modules (or add a docstring line {JUSTIFICATION!r} … with the reason):\n"
        + "\n".join(too_long)
    )


def test_the_check_sees_every_module() -> None:
    # guards the walk itself: a wrong ROOT would make the size test pass vacuously
    assert (ROOT / "generate.py").is_file() or (ROOT / "generate").is_dir()
    assert sum(1 for _ in ROOT.rglob("*.py")) > 50
