"""Allowed values of config settings, declared on the dataclass field they constrain.

A config field is declared with one of the helpers below, e.g. `z_dim: int = integer(2, ">= 1")`:
the default and what is allowed travel together in the field's metadata, so one function
(`validate`) checks every setting, and the same text shows up in error messages and in help
(`describe`). A value that is not allowed raises a one-line `SettingError` naming the setting, the
value and what is allowed, when the config object is built: before a run directory, a store or
a checkpoint is made from it.

Conversions keep the meaning of a value or refuse it: an int setting takes 3 or 3.0 but not 2.7,
a float setting takes 3 (or the string "1e-4", which YAML 1.1 reads as a string) but not True,
NaN or inf. Bounds use a small notation that reads as what it checks: ">= 1", "> 0",
"positive", "<= 1", "[0, 1)" (brackets include, parentheses exclude the end).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ALLOWED = "allowed"
"""Key of a field's metadata that holds its `Allowed`."""

_KIND_NAMES = {int: "int", float: "float", str: "str", bool: "a bool"}
_INTERVAL = re.compile(r"([\[(])\s*([^,\s]+)\s*,\s*([^\]\s)]+)\s*([\])])")
_COMPARISON = re.compile(r"(>=|>|<=|<)\s*(\S+)")
_COMPARE = {
    ">=": lambda v, b: v >= b,
    ">": lambda v, b: v > b,
    "<=": lambda v, b: v <= b,
    "<": lambda v, b: v < b,
}


class SettingError(ValueError):
    """A setting's value is not allowed. The message is one line: the setting (section.key), the
    value given and what is allowed."""

    def __init__(self, key: str, rest: str):
        super().__init__(f"{key}{rest}")
        self.key, self.rest = key, rest

    def within(self, where: str) -> SettingError:
        """The same error with the setting named from an outer section (`where.key`)."""
        return SettingError(f"{where}.{self.key}", self.rest) if where else self


@dataclass(frozen=True)
class Allowed:
    """What one setting accepts. Built by the helpers below, kept in the field's metadata."""

    kind: type
    """int, float, str or bool: the type of the value, or of each item when `many`."""
    shown: str | Callable[[], str] = ""
    """What is allowed, as people read it; a callable when it is only known at run time."""
    test: Callable[[Any], bool] | None = None
    """Whether the converted value (the whole tuple when `many`) is allowed."""
    many: bool = False
    """A tuple of `kind`s (a list or a single item is accepted and made a tuple)."""
    relation: Callable[[Any, Any], str | None] | None = None
    """(the config object, the converted value) -> why the value does not fit the fields
    declared before it, or None: for limits that depend on another setting."""
    host: Callable[[Any], str | None] | None = None
    """The converted value -> what this machine allows instead, or None when it has what the
    value names (a CUDA device): checked only where the config is about to be used here."""

    def describe(self) -> str:
        return self.shown() if callable(self.shown) else self.shown

    def check(self, key: str, value: Any, owner: Any = None, host: bool = False) -> Any:
        """The value converted to `kind` (a tuple when `many`); SettingError if not allowed."""
        got = f", got {value!r}"
        try:
            converted = (
                _convert_items(self.kind, value) if self.many else _convert(self.kind, value)
            )
        except (TypeError, ValueError):
            if self.many:
                raise SettingError(key, f" must be {self._full()}{got}") from None
            allowed = f"; allowed: {self.describe()}" if self.describe() else ""
            raise SettingError(key, f": expected {_KIND_NAMES[self.kind]}{got}{allowed}") from None
        items = converted if self.many else (converted,)
        if self.kind is float and not all(math.isfinite(v) for v in items):
            raise SettingError(key, f" must be finite and {self._full()}{got}")
        if self.test is not None and not self.test(converted):
            raise SettingError(key, f" must be {self._full()}{got}")
        why = self.relation(owner, converted) if self.relation else None
        if why:
            raise SettingError(key, f" must be {self._full()}{got} ({why})")
        here = self.host(converted) if host and self.host else None
        if here:
            raise SettingError(key, f" must be {here}{got}")
        return converted

    def _full(self) -> str:
        return self.describe() or _KIND_NAMES[self.kind]


def _convert(kind: type, value: Any) -> Any:
    """`value` as `kind`, only where that keeps its meaning; TypeError/ValueError otherwise."""
    if isinstance(value, bool) or kind is bool:
        if kind is bool and isinstance(value, bool):
            return value
        raise TypeError
    if kind is str:
        if isinstance(value, str | int):  # an int: a name or path that looks like a number
            return str(value)
        raise TypeError
    if not isinstance(value, int | float | str):
        raise TypeError
    if kind is float:
        return float(value)
    if isinstance(value, int):
        return value
    number = float(value)  # a float, or a string such as "1e5" (YAML 1.1 reads it as text)
    if not number.is_integer():
        raise ValueError
    return int(number)


def _convert_items(kind: type, value: Any) -> tuple:
    items = value if isinstance(value, list | tuple) else (value,)
    return tuple(_convert(kind, item) for item in items)


def bounds(text: str) -> Callable[[Any], bool]:
    """The test a bound written as ">= 1", "> 0", "positive", "<= 1", "< 1" or "[0, 1)" makes."""
    if text == "positive":
        return lambda v: v > 0
    interval = _INTERVAL.fullmatch(text)
    if interval:
        left, low, high, right = interval.groups()
        lower = _COMPARE[">=" if left == "[" else ">"]
        upper = _COMPARE["<=" if right == "]" else "<"]
        return lambda v: lower(v, float(low)) and upper(v, float(high))
    comparison = _COMPARISON.fullmatch(text)
    if comparison:
        op, bound = comparison.groups()
        return lambda v: _COMPARE[op](v, float(bound))
    raise ValueError(f"cannot read the bound {text!r}")


def _shown_bound(text: str) -> str:
    return f"in {text}" if text[0] in "[(" else text


def setting(default: Any, allowed: Allowed) -> Any:
    """A dataclass field with `default` and what it allows (read by `validate`, `describe`);
    the default itself is checked whenever an object is built, as any value is."""
    return dataclasses.field(default=default, metadata={ALLOWED: allowed})


def integer(default: int, bound: str = "", **extra) -> Any:
    """An int setting, e.g. `integer(2, ">= 1")`."""
    test = bounds(bound) if bound else None
    return setting(default, Allowed(int, _shown_bound(bound) if bound else "", test, **extra))


def number(default: float, bound: str = "", **extra) -> Any:
    """A finite float setting, e.g. `number(0.99, "[0, 1)")`."""
    test = bounds(bound) if bound else None
    shown = _shown_bound(bound) if bound else "a number"
    return setting(default, Allowed(float, shown, test, **extra))


def flag(default: bool) -> Any:
    """A bool setting (true or false, nothing else)."""
    return setting(default, Allowed(bool, "true or false"))


def text(default: str, nonempty: bool = False, **extra) -> Any:
    """A string setting; `nonempty`: the empty string is not allowed."""
    test = (lambda v: v != "") if nonempty else None
    return setting(default, Allowed(str, "a non-empty string" if nonempty else "", test, **extra))


def choice(default: str, options: tuple[str, ...] | Callable[[], list[str]], **extra) -> Any:
    """A string setting that is one of `options` (a callable: options known only at run time)."""

    def listed() -> list[str]:
        return list(options() if callable(options) else options)

    def shown() -> str:
        names = [repr(o) for o in listed()]
        return " or ".join(names) if len(names) <= 2 else f"one of {', '.join(names)}"

    return setting(default, Allowed(str, shown, lambda v: v in listed(), **extra))


def pattern(default: str, regex: str, shown: str, **extra) -> Any:
    """A string setting that matches `regex` entirely; `shown` says what that allows."""
    test = lambda v: re.fullmatch(regex, v) is not None  # noqa: E731
    return setting(default, Allowed(str, shown, test, **extra))


def items(default: tuple, kind: type, shown: str, test: Callable[[tuple], bool], **extra) -> Any:
    """A tuple setting of `kind`s (a list in YAML and ROS); `test` sees the whole tuple."""
    return setting(default, Allowed(kind, shown, test, many=True, **extra))


def random_seed(default: int) -> Any:
    """A seed: numpy takes 32-bit unsigned ones only."""
    return integer(default, "[0, 4294967295]")


def sizes(default: tuple[int, ...]) -> Any:
    """Layer sizes of a network: at least one layer (none would make it linear), each >= 1."""
    shown = "a non-empty list of layer sizes >= 1"
    return items(default, int, shown, lambda v: len(v) > 0 and min(v) >= 1)


def torch_device(default: str) -> Any:
    """A torch device; where the config is about to be used (`validate(host=True)`), this
    machine must have it."""
    shown = "cpu, cuda or cuda:<index>"
    return pattern(default, r"cpu|cuda(:\d+)?", shown, host=_device_here)


def _device_here(name: str) -> str | None:
    """What this machine offers instead of device `name`, or None when torch sees it."""
    if name == "cpu":
        return None
    import torch  # lazy: only a CUDA setting pays for importing it

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if int(name.partition(":")[2] or 0) < count:
        return None
    offered = ["cpu", "cuda", *(f"cuda:{i}" for i in range(count))] if count else ["cpu"]
    seen = f"{count} CUDA device(s)" if count else "no CUDA device"
    return f"{' or '.join(offered)} here (torch sees {seen})"


def validate(config: Any, host: bool = False) -> None:
    """Check and convert, in place, every declared setting of dataclass object `config`, in field
    order. `host`: also check what the values name on this machine (a CUDA device)."""
    for f in dataclasses.fields(config):
        allowed = f.metadata.get(ALLOWED)
        if allowed is not None:
            value = allowed.check(f.name, getattr(config, f.name), config, host)
            setattr(config, f.name, value)


def describe(cls: type) -> dict[str, str]:
    """Setting name -> its type and what it allows, for help listings."""
    out = {}
    for f in dataclasses.fields(cls):
        allowed = f.metadata.get(ALLOWED)
        if allowed is not None:
            kind, shown = allowed.kind.__name__, allowed.describe()
            out[f.name] = shown if allowed.many else f"{kind}, {shown}" if shown else kind
    return out


class Settings:
    """Base of config dataclasses declared with the helpers above: every object is validated
    as it is built, by direct construction as much as by `from_dict`."""

    def __post_init__(self):
        validate(self)


def from_dict(cls: type, values: Mapping[str, Any] | None, where: str = "") -> Any:
    """Build dataclass `cls` from its defaults overridden by `values` (a YAML section, ROS
    parameters). Unknown keys and a section that is not a mapping are errors; errors name the
    setting as `where.key`. Fields declared with an `Allowed` are converted and checked by the
    class itself; others (classes not yet declared that way) are converted to their default's
    type."""
    label = where or "config"
    if values is None:  # an empty YAML section (`agent:` with every key commented out)
        values = {}
    if not isinstance(values, Mapping):
        raise SettingError(label, f" must be a section (a mapping of keys), got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(values) - set(fields))
    if unknown:
        raise ValueError(f"{label}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    defaults = cls()
    kwargs = {}
    for name, value in values.items():
        key = f"{where}.{name}" if where else name
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = from_dict(type(default), value, key)
        elif ALLOWED in fields[name].metadata:
            kwargs[name] = value
        else:
            kwargs[name] = _as_default_type(default, value, key)
    try:
        return cls(**kwargs)
    except SettingError as err:
        raise err.within(where) from None


def _as_default_type(default: Any, value: Any, key: str) -> Any:
    if isinstance(default, tuple):
        return tuple(value) if isinstance(value, list | tuple) else (value,)
    if isinstance(default, bool) or not isinstance(default, int | float | str):
        return value
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: expected {type(default).__name__}, got {value!r}") from None
