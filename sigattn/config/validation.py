"""How a config refuses a value: one-line SigattnErrors naming the key, and the frozen base of every section.

Validators raise `must_be`/`bad_value` ("<key> must be ...; got ..."), `broken_rule` (a sentence
about several keys) or `unknown_key`; `one_line` turns pydantic's ValidationError into a
SigattnError holding the first of them, with the key path built from where pydantic found it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from sigattn.errors import SigattnError

_VALUE, _RULE, _UNKNOWN = "sigattn_value", "sigattn_rule", "sigattn_unknown_key"
_MAX_REPR = 120  # longest value quoted in a message about a value pydantic itself refused


def bad_value(text: str) -> PydanticCustomError:
    """The value of the key being validated is wrong; reported as "<key> <text>"."""
    return PydanticCustomError(_VALUE, "{text}", {"text": text})


def must_be(what: str, value: Any) -> PydanticCustomError:
    """Reported as "<key> must be <what>; got <value>"."""
    return bad_value(f"must be {what}; got {value!r}")


def broken_rule(text: str) -> PydanticCustomError:
    """A rule between keys, given as a whole sentence that names them."""
    return PydanticCustomError(_RULE, "{text}", {"text": text})


def unknown_key(name: Any, allowed: Iterable[str]) -> PydanticCustomError:
    """Key `name` is not one of `allowed`; reported as "unknown config key <section>.<name>; allowed: ..."."""
    return PydanticCustomError(_UNKNOWN, "unknown key {name}", {"name": str(name), "allowed": ", ".join(allowed)})


def one_line(error: ValidationError, where: str = "") -> SigattnError:
    """The first problem in `error` as a one-line SigattnError; `where` is the key path of the
    section that was validated ("" for a whole run config)."""
    first = error.errors(include_url=False)[0]
    key = ".".join([*([where] if where else []), *(str(part) for part in first["loc"])])
    ctx = first.get("ctx") or {}
    if first["type"] == _VALUE:
        text = f"{key} {ctx['text']}"
    elif first["type"] == _RULE:
        text = ctx["text"]
    elif first["type"] == _UNKNOWN:
        text = f"unknown config key {key or 'config'}.{ctx['name']}; allowed: {ctx['allowed']}"
    else:  # a check of pydantic's own, e.g. the type of an element of a list
        value = repr(first.get("input"))
        value = value if len(value) <= _MAX_REPR else value[: _MAX_REPR - 3] + "..."
        text = f"{key or 'config'} is not valid: {first['msg']}; got {value}"
    return SigattnError(" ".join(text.split()))


_Section = TypeVar("_Section", bound="Section")


class Section(BaseModel):
    """A frozen part of the run config. Built from keywords or `from_dict`, it refuses unknown
    keys and bad values with a one-line SigattnError; `to_dict` gives plain JSON-ready data."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    where: ClassVar[str] = ""  # this section's key path in the run YAML, for messages

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise one_line(error, type(self).where) from None

    # Only a wrapper around pydantic's own __init__: nested sections are validated as parts of the
    # outer one, so the first error keeps its place (pydantic marks RootModel.__init__ the same way).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls: type[_Section], values: Mapping[str, Any] | None) -> _Section:
        """Build from plain YAML/JSON data (None: all defaults); unknown keys and bad values raise SigattnError."""
        try:
            return cls.model_validate({} if values is None else values)
        except ValidationError as error:
            raise one_line(error, cls.where) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (lists, not tuples) that `from_dict` reads back."""
        return self.model_dump(mode="json")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, values: Any) -> Any:
        if isinstance(values, cls):
            return values
        if not isinstance(values, Mapping):
            raise must_be("a mapping", values)
        for name in values:
            if name not in cls.model_fields:
                raise unknown_key(name, cls.model_fields)
        return cls._complete(dict(values))

    @classmethod
    def _complete(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Fill in or reshape the raw values before the fields are checked; sections override it."""
        return values
