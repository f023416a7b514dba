"""The JSON Schema pieces shared by the JSON and YAML formats.

Which positions of a schema hold subschemas is :mod:`formbound._schema_walk` (the constraint layer
walks schemas too); the schema handed to a grammar compiler is :mod:`formbound.constraints.bounds`.

* :mod:`.validate`: :class:`SchemaValidator` (draft choice, offline ``$ref`` registry, bounded keywords);
* :mod:`.keywords`: the bounded ``uniqueItems`` / ``pattern`` / ``multipleOf`` implementations;
* :mod:`.refs`: the one local ``$ref`` resolver for code that reads a schema's shape;
* :mod:`.render`: a compact shape of a schema for prompts;
* :mod:`.lint`: misspelt keywords and data passed as a schema;
* :mod:`.meta`: the metaschema check (a flattened 2020-12 metaschema first, for speed).
"""

from __future__ import annotations

from formbound.formats.jsonschema.refs import ref_target, resolve_local
from formbound.formats.jsonschema.render import render_shape
from formbound.formats.jsonschema.validate import SchemaValidator, json_pointer, refusing_registry

__all__ = [
    "SchemaValidator",
    "json_pointer",
    "ref_target",
    "refusing_registry",
    "render_shape",
    "resolve_local",
]
