"""Specs: what a model output must be (the public facade).

:class:`Spec` and :class:`Candidate` live in :mod:`formbound.formats.base`, beside the formats that
subclass them; this module is where users import them from.
"""

from __future__ import annotations

from formbound.formats.base import Candidate, Spec

__all__ = ["Candidate", "Spec"]
