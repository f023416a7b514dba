"""``formbound check``: validate a text against a spec; exit 0 valid, 1 invalid, 2 usage, 3 internal."""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path
from typing import IO

import click

from formbound import EnforcementError, FormboundError, Issue, Spec, SpecError, enforce
from formbound.cli._common import EXIT_INVALID, translate_errors

#: Longest text ``check`` reads (characters); more is refused without reading the rest.
DEFAULT_MAX_CHARS = 1_000_000
_CHUNK = 1 << 16


@click.command("check")
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Spec file: a JSON Schema (.json), a formbound or task-set spec.json, a DDL script (.sql) or a "
    "SQLite db.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml", "sql"]),
    default=None,
    help="Format of the text (default: from the spec file; json for a bare JSON Schema).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result or the errors as JSON.")
@click.option("--no-repair", is_flag=True, help="Judge the text as given; apply no repairs.")
@click.option(
    "--max-chars",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Refuse a longer text; at most this many characters (plus one) are read.",
)
@click.argument("file", default="-", type=click.File("rb"))
def check(
    spec_path: str, fmt: str | None, as_json: bool, no_repair: bool, max_chars: int, file: IO[bytes]
) -> None:
    """Check FILE (default: standard input) against a spec and print the value or the errors."""
    try:
        spec = load_spec_file(spec_path, format=fmt)
    except FormboundError as exc:
        raise translate_errors(exc) from exc
    try:
        text = read_bounded(file, max_chars)
    except UnicodeDecodeError as exc:
        _report_invalid(
            EnforcementError(
                "syntax", [Issue(f"input is not valid UTF-8 (byte {exc.start})", kind="encoding")], ""
            ),
            as_json,
        )
        return
    if text is None:
        _report_invalid(
            EnforcementError(
                "syntax",
                [
                    Issue(
                        f"input is over {max_chars:,} characters; raise --max-chars to check it", kind="size"
                    )
                ],
                "",
            ),
            as_json,
        )
        return
    try:
        result = enforce(text, spec, repair=not no_repair)
    except EnforcementError as err:
        _report_invalid(err, as_json)
        return
    if as_json:
        click.echo(json.dumps({"valid": True, "text": result.text, "repairs": list(result.repairs)}))
    else:
        click.echo(result.text)
        if result.repairs:
            click.echo(f"repaired: {', '.join(result.repairs)}", err=True)


def load_spec_file(path: str, format: str | None = None) -> Spec:
    """A spec from a file, like :meth:`Spec.load`, that also takes a task set's ``spec.json``.

    A task set's ``spec.json`` carries a ``"task"`` block (instruction, token limit) that describes the
    task, not the output: it is ignored here. (Kept in the CLI so ``check`` imports no measuring code.)
    """
    p = Path(path)
    if p.suffix.lower() == ".json" and p.is_file():
        try:
            desc = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            desc = None  # Spec.load reports it
        if isinstance(desc, dict) and isinstance(desc.get("format"), str) and "task" in desc:
            desc.pop("task")
            if format is not None and format != desc["format"]:
                raise SpecError(f"spec file {p.name!r} is for format {desc['format']!r}, not {format!r}")
            return Spec.from_dict(desc, base_dir=p.parent)
    return Spec.load(p, format=format)


def read_bounded(stream: IO[bytes], max_chars: int) -> str | None:
    """Decode UTF-8 from ``stream`` until ``max_chars + 1`` characters; ``None`` when the text is longer.

    Reads in chunks and stops as soon as the limit is passed, so an endless or huge input costs at most
    one chunk more than the limit.

    Raises:
        UnicodeDecodeError: the bytes are not UTF-8 (``start`` counts from the beginning of the input).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    size = consumed = 0
    while True:
        chunk = stream.read(_CHUNK)
        final = not chunk
        pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
        try:
            piece = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(
                exc.encoding,
                exc.object,
                consumed - pending + exc.start,
                consumed - pending + exc.end,
                exc.reason,
            ) from exc
        consumed += len(chunk)
        parts.append(piece)
        size += len(piece)
        if size > max_chars:
            return None
        if final:
            return "".join(parts)


def _report_invalid(err: EnforcementError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"valid": False, **err.to_dict()}))
    else:
        click.echo(f"invalid ({err.stage}):", err=True)
        for issue in err.errors:
            click.echo(f"  {issue}", err=True)
    sys.exit(EXIT_INVALID)
