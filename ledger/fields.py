"""Strict readers for fields of decoded JSON objects.

Each reader checks one field's type and range and raises :class:`InvalidInput`
(or a more specific leaf) naming the field's path. Unknown fields are refused:
what an author signs must be exactly what the ledger understands.
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from ledger.canonical import check_text
from ledger.errors import InvalidAmount, InvalidInput

MAX_AMOUNT = 10**12
"""Largest absolute amount in fen (10 billion yuan) — far above any estate's books."""

MAX_TEXT = 2000
"""Longest free-text field, in characters."""


class Obj:
    """A JSON object being read field by field, with the path used in error messages."""

    def __init__(
        self, value: Any, path: builtins.str, required: set[str], optional: set[str]
    ) -> None:
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{path}: expected an object", field=path)
        missing = required - value.keys()
        if missing:
            name = sorted(missing)[0]
            raise InvalidInput(f"{path}.{name}: required field is missing", field=f"{path}.{name}")
        unknown = value.keys() - required - optional
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInput(f"{path}.{name}: unknown field", field=f"{path}.{name}")
        self.value = value
        self.path = path

    def has(self, name: builtins.str) -> bool:
        return name in self.value

    def at(self, name: builtins.str) -> builtins.str:
        return f"{self.path}.{name}"

    def raw(self, name: builtins.str, default: Any = None) -> Any:
        return self.value.get(name, default)

    def str(
        self,
        name: builtins.str,
        *,
        default: builtins.str | None = None,
        min_len: builtins.int = 1,
        max_len: builtins.int = MAX_TEXT,
    ) -> builtins.str:
        if name not in self.value and default is not None:
            return default
        value = self.value.get(name)
        field = self.at(name)
        if not isinstance(value, str):
            raise InvalidInput(f"{field}: expected a string", field=field)
        check_text(value, field)
        if not min_len <= len(value) <= max_len:
            raise InvalidInput(
                f"{field}: length must be {min_len}..{max_len} characters", field=field
            )
        return value

    def match(
        self, name: builtins.str, pattern: re.Pattern[builtins.str], what: builtins.str
    ) -> builtins.str:
        value = self.str(name, max_len=200)
        if not pattern.fullmatch(value):
            raise InvalidInput(f"{self.at(name)}: not a valid {what}", field=self.at(name))
        return value

    def choice(self, name: builtins.str, choices: tuple[builtins.str, ...]) -> builtins.str:
        value = self.str(name, max_len=64)
        if value not in choices:
            raise InvalidInput(
                f"{self.at(name)}: must be one of {', '.join(choices)}", field=self.at(name)
            )
        return value

    def int(
        self,
        name: builtins.str,
        *,
        lo: builtins.int,
        hi: builtins.int,
        default: builtins.int | None = None,
    ) -> builtins.int:
        if name not in self.value and default is not None:
            return default
        return read_int(self.value.get(name), self.at(name), lo=lo, hi=hi)

    def amount(self, name: builtins.str) -> builtins.int:
        return read_amount(self.value.get(name), self.at(name))

    def date(self, name: builtins.str) -> dt.date:
        text = self.str(name, max_len=10)
        return read_date(text, self.at(name))

    def list(
        self, name: builtins.str, *, min_len: builtins.int = 0, max_len: builtins.int = 1000
    ) -> builtins.list[Any]:
        value = self.value.get(name, [] if min_len == 0 else None)
        field = self.at(name)
        if not isinstance(value, list):
            raise InvalidInput(f"{field}: expected an array", field=field)
        if not min_len <= len(value) <= max_len:
            raise InvalidInput(f"{field}: must hold {min_len}..{max_len} items", field=field)
        return value


def read_int(value: Any, field: str, *, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field}: expected an integer", field=field)
    if not lo <= value <= hi:
        raise InvalidInput(f"{field}: must be between {lo} and {hi}", field=field)
    return value


def read_amount(value: Any, field: str) -> int:
    """An amount in integer fen: never a float, a string or a bool; |amount| ≤ MAX_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"{field}: amounts are integers in fen (分), got {type(value).__name__}", field=field
        )
    if abs(value) > MAX_AMOUNT:
        raise InvalidAmount(f"{field}: |amount| exceeds {MAX_AMOUNT} fen", field=field)
    return value


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def read_date(text: str, field: str) -> dt.date:
    if not _DATE.fullmatch(text):
        raise InvalidInput(f"{field}: expected a date YYYY-MM-DD", field=field)
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise InvalidInput(f"{field}: {e}", field=field) from e
