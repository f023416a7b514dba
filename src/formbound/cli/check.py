"""``formbound check``: validate a text against a spec; exit 0 valid, 1 invalid, 2 usage error."""

from __future__ import annotations

import json
import sys
from typing import IO

import click

from formbound import EnforcementError, FormboundError, Issue, Spec, enforce


@click.command("check")
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Spec file: a JSON Schema (.json), a formbound spec.json, a DDL script (.sql) or a SQLite db.",
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
@click.argument("file", default="-", type=click.File("rb"))
def check(spec_path: str, fmt: str | None, as_json: bool, no_repair: bool, file: IO[bytes]) -> None:
    """Check FILE (default: standard input) against a spec and print the value or the errors."""
    try:
        spec = Spec.load(spec_path, format=fmt)
    except FormboundError as exc:
        raise click.UsageError(str(exc)) from exc
    data = file.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _report_invalid(
            EnforcementError(
                "syntax", [Issue(f"input is not valid UTF-8 (byte {exc.start})", kind="encoding")], ""
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


def _report_invalid(err: EnforcementError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"valid": False, **err.to_dict()}))
    else:
        click.echo(f"invalid ({err.stage}):", err=True)
        for issue in err.errors:
            click.echo(f"  {issue}", err=True)
    sys.exit(1)
