"""Identifiers of a SQL dialect: which words are reserved, and how a name is written (bare or quoted).

Shared by the schema (rendering DDL for prompts) and the grammar (the names a constrained decoder may
produce), so neither has to import the other.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

__all__ = ["quote_identifier", "reserved_words"]

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTRA_RESERVED = (
    "over filter window qualify limit offset fetch top using natural cross full outer inner join on union "
    "except intersect minus escape glob regexp rlike match collate asc desc nulls first last rows range "
    "groups pivot unpivot sample tablesample lateral apply returning format settings prewhere final array "
    "map struct interval case when then else end cast exists not and or is null in like ilike between true "
    "false all any some distinct select from where group having order by as with left right semi anti "
    "values default current_date current_time current_timestamp current_user localtime localtimestamp "
    "primary key references unique check constraint into table view index database schema start connect "
    "prior level rownum sysdate div mod xor is_null notnull isnull"
).split()


def reserved_words(dialect: str) -> list[str]:
    """Words that may not be used as bare identifiers in ``dialect`` (lower case, sorted)."""
    tokenizer = Dialect.get_or_raise(dialect).tokenizer_class
    words = {k.lower() for k in tokenizer.KEYWORDS if _SIMPLE.match(k)}
    words.update(_EXTRA_RESERVED)
    return sorted(words)


def quote_identifier(name: str, dialect: str, reserved: set[str]) -> str:
    """``name`` as the dialect writes it: bare when that is safe, else quoted in the dialect's style."""
    if _SIMPLE.match(name) and name.lower() not in reserved:
        return name
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)
