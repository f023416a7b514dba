"""YAML: safe YAML 1.2 loading with limits, JSON Schema validation, repairs, canonical text, a grammar.

* :mod:`~formbound.formats.yaml.load`: safe loading into JSON data, with limits;
* :mod:`~formbound.formats.yaml.repair`: named repairs of near-YAML output;
* :mod:`~formbound.formats.yaml.spec`: :class:`YamlSpec`;
* :mod:`~formbound.formats.yaml.dump`: canonical text and the prompt's picture of the schema;
* :mod:`~formbound.formats.yaml.grammar`: the decoding grammar (Lark, llguidance dialect).
"""

from __future__ import annotations

from formbound.formats.yaml.load import load_yaml
from formbound.formats.yaml.repair import REPAIRS
from formbound.formats.yaml.spec import YamlSpec

__all__ = ["REPAIRS", "YamlSpec", "load_yaml"]
