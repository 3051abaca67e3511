"""A faster ``__init__`` for the frozen dataclasses a scan makes by the hundred thousand.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__`` (its own ``__setattr__`` refuses), about 0.1 µs a field; a scan of
10,000 pods builds some 175,000 records, entries and findings. :func:`fast_init`, put
above ``@dataclass(frozen=True, …)``, replaces that ``__init__`` with one of the same
signature and effect that stores each field directly: through the slot's descriptor for
``slots=True`` classes, into the instance dict otherwise. The class stays frozen (its
``__setattr__`` and ``__delattr__`` still refuse), and defaults, default factories,
``init=False`` fields, keyword-only fields and ``__post_init__`` behave as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

_T = TypeVar("_T")


class _Factory:
    """Default of a parameter whose field has a default factory (shown as dataclasses does)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def fast_init(cls: type[_T]) -> type[_T]:
    """Give the frozen dataclass ``cls`` an ``__init__`` that skips ``object.__setattr__``."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any("InitVar" in str(a) for a in cls.__annotations__.values()):
        raise TypeError(f"{cls.__name__}: InitVar fields are not supported")
    slots = "__slots__" in cls.__dict__
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body = [] if slots else ["    _fields = self.__dict__"]
    for number, f in enumerate(params):
        value = f"_v{number}"  # parameters keep the field names; values go through locals
        if f.default is not dataclasses.MISSING:
            namespace[f"_default{number}"] = f.default
            default = f"_default{number}"
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory{number}"] = f.default_factory
            default = "_FACTORY"
        else:
            default = ""
        if f.init:
            (keyword if f.kw_only else positional).append(
                f"{f.name}={default}" if default else f.name)
            if default == "_FACTORY":
                body.append(f"    {value} = _factory{number}() if {f.name} is _FACTORY"
                            f" else {f.name}")
            else:
                body.append(f"    {value} = {f.name}")
        elif default == "_FACTORY":
            body.append(f"    {value} = _factory{number}()")
        elif default:
            body.append(f"    {value} = {default}")
        else:
            continue  # init=False without a default: left unset, as dataclasses does
        if slots:
            namespace[f"_set{number}"] = cls.__dict__[f.name].__set__
            body.append(f"    _set{number}(self, {value})")
        else:
            body.append(f"    _fields[{f.name!r}] = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - built above from field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010 - a class attribute, not an instance's
    return cls
