"""Is a gold value stated in the input? Judged by meaning, not by the literal text.

A wrong value counts as *missing information* only when the input does not state the gold value in
any common written form; otherwise the model had the value and got it wrong (*behaviour*). Forms
recognised, each with a maintained parser where one exists:

* case, Unicode form, punctuation, whitespace and thousands separators (``ADA  Lovelace``, ``1,200``);
* dates, when the gold value is an ISO date ``YYYY-MM-DD``: spans of the input shaped like a date
  (``April 25, 2026``, ``25 April 2026``, ``25/04/2026``, ``04/25/2026``, ``25.04.2026``,
  ``2026/04/25``) parsed by ``python-dateutil`` (day-first and month-first both tried);
* numbers written as words (``four``, ``twenty-five``, ``one hundred and two``), converted by
  ``text2num`` (English);
* quantities whose unit must be converted (``4 hours`` → 240 minutes): a number followed by a unit
  word, converted by ``pint`` to the other units of the same kind in :data:`UNITS` (time, length, mass,
  volume). The gold number matches when any conversion equals it.

The parsers are imported lazily; without them a :class:`~formbound.errors.DependencyError` names the
extra to install (``formbound[stats]``).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Any

from formbound.errors import DependencyError

__all__ = ["UNITS", "value_in_text"]

#: The units a stated quantity is converted to, by kind. A gold number matches a quantity in the
#: input when the quantity expressed in one of these units equals it.
UNITS: dict[str, tuple[str, ...]] = {
    "time": ("second", "minute", "hour", "day", "week"),
    "length": ("millimeter", "centimeter", "meter", "kilometer", "inch", "foot", "yard", "mile"),
    "mass": ("gram", "kilogram", "pound", "ounce"),
    "volume": ("milliliter", "liter"),
}

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE_SPANS = re.compile(
    rf"\b(?:{_DAY}\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}"  # 25 April 2026
    rf"|{_MONTH}\s+{_DAY},?\s+\d{{4}}"  # April 25, 2026
    r"|\d{4}[./-]\d{1,2}[./-]\d{1,2}"  # 2026/04/25
    r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})\b",  # 25/04/2026, 04-25-26
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_QUANTITY = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*-?\s*([a-zA-Z]+)")


def _deps(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DependencyError(
            f"judging whether a value is in the input needs {name!r}; "
            "install it with: pip install 'formbound[stats]'"
        ) from exc


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"(?<=\d)[,_](?=\d{3}\b)", "", text)  # 1,200 -> 1200
    text = re.sub(r"[^\w.@+-]+", " ", text)
    text = re.sub(r"(?<!\w)[.@+-]+|[.@+-]+(?!\w)", " ", text)  # sentence dots, leading +/-
    return " " + re.sub(r"\s+", " ", text).strip() + " "


def _literal(value: Any, text: str) -> bool:
    """The value's text occurs in the input after normalisation (case, Unicode, punctuation, spaces)."""
    hay = _normalise(text)
    if isinstance(value, float) and value.is_integer():
        candidates = [str(int(value)), str(value)]
    else:
        candidates = [str(value)]
    for c in candidates:
        needle = _normalise(c).strip()
        if needle and (f" {needle} " in hay or (len(needle) > 3 and needle in hay)):
            return True
    return False


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _dates_in(text: str) -> set[str]:
    """ISO dates of every date-shaped span of ``text`` (both day-first and month-first readings)."""
    parser = _deps("dateutil.parser")
    found: set[str] = set()
    for span in _DATE_SPANS.findall(text):
        for dayfirst in (True, False):
            try:
                found.add(parser.parse(span, dayfirst=dayfirst).date().isoformat())
            except (ValueError, OverflowError):
                continue
    return found


def _digits(text: str) -> str:
    """``text`` with English number words replaced by digits (``four hours`` → ``4 hours``)."""
    text_to_num = _deps("text_to_num")
    # threshold 0: "one" and "a" alone become digits too ("one hour"); the converter leaves other words
    return str(text_to_num.alpha2digit(text, "en", threshold=0))


@functools.lru_cache(maxsize=1)
def _units() -> Any:
    pint = _deps("pint")
    return pint.UnitRegistry()


def _quantities_match(number: float, text: str) -> bool:
    """A quantity in ``text`` (``4 hours``) equals ``number`` in some unit of the same kind."""
    ureg = _units()
    import pint

    for amount, word in _QUANTITY.findall(text):
        try:
            unit = ureg.Unit(word.lower())
        except (pint.errors.PintError, AttributeError, ValueError):
            continue
        quantity = ureg.Quantity(float(amount), unit)
        for names in UNITS.values():
            if not any(quantity.is_compatible_with(ureg.Unit(n)) for n in names[:1]):
                continue
            for name in names:
                converted = float(quantity.to(name).magnitude)
                if math.isclose(converted, number, rel_tol=1e-9, abs_tol=1e-9):
                    return True
    return False


def value_in_text(value: Any, text: str) -> bool:
    """Whether ``text`` states ``value`` in any common written form (see the module docstring).

    >>> value_in_text("Ada Lovelace", "Contact: ADA  Lovelace, London")
    True
    >>> value_in_text("2026-04-25", "Meeting on April 25, 2026.")
    True
    >>> value_in_text(4, "They have four children.")
    True
    >>> value_in_text(240, "The flight takes 4 hours.")
    True
    >>> value_in_text(241, "The flight takes 4 hours.")
    False
    """
    if _literal(value, text):
        return True
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        return value.strip() in _dates_in(text)
    number = _as_number(value)
    if number is None:
        return False
    digits = _digits(text)
    if digits != text and _literal(int(number) if number.is_integer() else number, digits):
        return True
    return _quantities_match(number, digits)
