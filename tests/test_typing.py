"""Static types users see: ``enforce(text, Person).value`` and ``Generator(model, Person)`` are typed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

SNIPPET = textwrap.dedent(
    """
    import formbound as fb
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str

    reveal_type(fb.enforce('{"name": "Ada"}', Person).value)
    reveal_type(fb.enforce('{"name": "Ada"}', {"type": "object"}).value)
    gen = fb.Generator("default", Person)
    reveal_type(gen)
    reveal_type(gen("Ada").value)
    """
)


def test_results_are_typed_for_type_checkers(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    pytest.importorskip("pydantic")
    src = tmp_path / "snippet.py"
    src.write_text(SNIPPET, encoding="utf-8")
    out, err, _ = api.run([str(src), "--no-incremental", "--cache-dir", str(tmp_path / ".mypy_cache")])
    revealed = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type" in line]
    assert revealed[0] == '"snippet.Person"', out + err
    assert revealed[1] == '"Any"', out + err
    assert revealed[2] == '"formbound.generate.Generator[snippet.Person]"', out + err
    assert revealed[3] == '"snippet.Person"', out + err
