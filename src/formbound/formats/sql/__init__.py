"""SQL specs: one statement in a dialect that obeys a policy, names only what the schema has, and runs.

Modules, by stage: :mod:`.spec` (the :class:`SqlSpec` and its syntax stage), :mod:`.policy`,
:mod:`.resolve` (schema stage), :mod:`.execute` (semantic stage, and execution accuracy for measurements),
:mod:`.repair`, :mod:`.grammar` (the decoding constraint), :mod:`.schema` and :mod:`.identifiers`.
"""

from formbound.formats.sql.spec import SQL_DIALECTS, SqlSpec

__all__ = ["SQL_DIALECTS", "SqlSpec"]
