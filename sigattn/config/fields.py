"""Value types of config keys. Each checks a value as it comes from hand-written YAML (no quiet
conversions: "10" is not an integer, true is not 1) and says what it expected.

Numbers also accept strings such as "3e-4": YAML 1.1 (PyYAML) reads an exponent without a dot
as a string. The bounds are written into the JSON Schema too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BeforeValidator

from sigattn.config.validation import must_be

_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> int:
    if not is_int(value) or value < 1:
        raise must_be("a positive integer", value)
    return value


def _non_negative_int(value: Any) -> int:
    if not is_int(value) or value < 0:
        raise must_be("a non-negative integer", value)
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise must_be("true or false", value)
    return value


def as_number(value: Any) -> float | None:
    """`value` as a finite float ("3e-4" included), or None if it is not one."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _positive_number(value: Any) -> float:
    number = as_number(value)
    if number is None or number <= 0:
        raise must_be("a positive number", value)
    return number


PositiveInt = Annotated[int, Ge(1), BeforeValidator(_positive_int)]
NonNegativeInt = Annotated[int, Ge(0), BeforeValidator(_non_negative_int)]
Flag = Annotated[bool, BeforeValidator(_flag)]
PositiveNumber = Annotated[float, Gt(0), BeforeValidator(_positive_number)]


def bounded(low: float, high: float, *, low_open: bool = False, high_open: bool = True) -> Any:
    """A finite number in [low, high), each bound open or closed as asked."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def check(value: Any) -> float:
        number = as_number(value)
        ok = number is not None and (number > low if low_open else number >= low)
        if not (ok and (number < high if high_open else number <= high)):
            raise must_be(f"a number in {interval}", number if isinstance(value, str) and number is not None else value)
        return number

    lower, upper = Gt(low) if low_open else Ge(low), Lt(high) if high_open else Le(high)
    return Annotated[float, lower, upper, BeforeValidator(check)]


def one_of(choices: Any) -> BeforeValidator:
    """Check a value against the names of a Literal type: `Annotated[Kind, one_of(Kind)]`."""
    allowed = get_args(choices)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in allowed:
            raise must_be(f"one of: {', '.join(allowed)}", value)
        return value

    return BeforeValidator(check)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise must_be("a string", value)
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise must_be("a non-empty string", value)
    return value


def _name_or_null(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise must_be("a non-empty string or null", value)
    return value


def _path_or_null(value: Any) -> str | None:
    return None if value is None else str(value)


def _folder(value: Any) -> str:
    value = str(value) if isinstance(value, Path) else value
    if not isinstance(value, str) or not value:
        raise must_be("a folder path", value)
    return value


Text = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, BeforeValidator(_name)]
NameOrNull = Annotated[str | None, BeforeValidator(_name_or_null)]
PathOrNull = Annotated[str | None, BeforeValidator(_path_or_null)]
Folder = Annotated[str, BeforeValidator(_folder)]


def string_keys(value: Any) -> bool:
    """A mapping whose keys are all strings."""
    return isinstance(value, Mapping) and all(isinstance(key, str) for key in value)
