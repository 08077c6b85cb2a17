"""Value checks of the data section: split fractions and groups, leads, records, beat window, transforms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import WithJsonSchema

from sigattn.config.fields import as_number, is_int, string_keys
from sigattn.config.validation import bad_value, must_be

SplitName = Literal["train", "val", "test"]
SPLIT_NAMES: tuple[str, ...] = get_args(SplitName)


def _fractions(value: Any) -> tuple[float, ...]:
    given = tuple(value) if isinstance(value, (list, tuple)) else value
    numbers = [as_number(f) for f in given] if isinstance(given, tuple) else []
    if len(numbers) != 3 or any(f is None or f <= 0 for f in numbers):
        raise must_be("three positive numbers (train, val, test)", given)
    if abs(sum(numbers) - 1.0) > 1e-6:
        raise bad_value(f"must sum to 1; got {given!r} (sum {sum(numbers):.4f})")
    return tuple(numbers)


def _guard(value: Any) -> int | None:
    if value is not None and (not is_int(value) or value < 0):
        raise must_be("a non-negative integer or null", value)
    return value


def _group_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise must_be("a list of group names", value)
    return tuple(str(g) for g in value)


def _groups(value: Any) -> dict[str, tuple[str, ...]] | None:
    if value is None:
        return None
    lists = isinstance(value, Mapping) and all(isinstance(v, (list, tuple)) for v in value.values())
    if not lists or set(value) - set(SPLIT_NAMES):
        raise bad_value(f"must map {', '.join(SPLIT_NAMES)} to lists of group names; got {value!r}")
    groups = {name: _group_names(members) for name, members in value.items()}
    seen: dict[str, str] = {}
    for name, members in groups.items():
        for group in members:
            if group in seen:
                raise bad_value(
                    f"lists group {group!r} in both {seen[group]!r} and {name!r}; each group goes to one split "
                    "(list groups to cut into segments in split.segment_groups)"
                )
            seen[group] = name
    return groups


def _leads(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    raise must_be("a lead name or a list of lead names to try in order", value)


def _records(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value:
        raise must_be("a non-empty list of record names, or null for every record in data_dir", value)
    return tuple(str(v) for v in value)


def _loads(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or any(not is_int(v) or not 0 <= v <= 3 for v in value):
        raise must_be("a list of motor loads 0-3 (hp)", value)
    return tuple(value)


def _beat_window(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    given = tuple(value) if isinstance(value, (list, tuple)) else value
    numbers = [as_number(v) for v in given] if isinstance(given, tuple) else []
    if len(numbers) != 2 or None in numbers or numbers[0] < 0 or numbers[1] <= 0:
        raise must_be("[before, after] seconds around the R peak (before >= 0, after > 0) or null", value)
    return (numbers[0], numbers[1])


def _beat_fs(value: Any) -> float | None:
    number = None if value is None else as_number(value)
    if value is not None and (number is None or number <= 0):
        raise must_be("a positive rate in Hz or null (the record's own rate)", value)
    return number


def _transforms(value: Any) -> tuple[dict[str, Any], ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(string_keys(t) and "name" in t for t in value):
        raise must_be("a list of {name: ..., options} mappings", value)
    return tuple(dict(t) for t in value)


# one step of the signal pipeline (sigattn.data.transforms): its name and its options
Transform = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})
]
