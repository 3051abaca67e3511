"""``initializers.fast_init`` builds the objects the ``__init__`` of dataclasses builds."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from scanner import evidence, findings, graph, images, initializers, model, scoring
from scanner.report import document


def shapes(slots: bool) -> tuple[type, ...]:
    @dataclass(frozen=True, slots=slots)
    class Plain:
        a: int
        b: str

    @dataclass(frozen=True, slots=slots)
    class Defaults:
        RULES: ClassVar[tuple[str, ...]] = ("x",)
        a: int
        b: str = "b"
        c: tuple[int, ...] = ()
        d: list[int] = field(default_factory=list)
        e: int = field(default=7, init=False)
        f: str = field(default="kw", kw_only=True)

    @dataclass(frozen=True, slots=slots, order=True)
    class PostInit:
        a: str
        b: str
        joined: str = field(init=False, default="", compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "joined", self.a + self.b)

    @dataclass(frozen=True, slots=slots)
    class Empty:
        pass

    return Plain, Defaults, PostInit, Empty


CALLS = {
    "Plain": [((1, "x"), {}), ((), {"a": 2, "b": "y"})],
    "Defaults": [((1,), {}), ((1, "q", (3,), [4]), {"f": "F"}), ((), {"a": 5, "d": [1]})],
    "PostInit": [(("a", "b"), {}), ((), {"b": "2", "a": "1"})],
    "Empty": [((), {})],
}


@pytest.mark.parametrize("slots", [True, False])
def test_same_objects_signature_and_errors_as_the_generated_init(slots: bool) -> None:
    for generated, fast in zip(shapes(slots), map(initializers.fast_init, shapes(slots)),
                               strict=True):
        assert str(inspect.signature(fast)) == str(inspect.signature(generated))
        for args, kwargs in CALLS[generated.__name__]:
            a, b = generated(*args, **kwargs), fast(*args, **kwargs)
            assert dataclasses.asdict(a) == dataclasses.asdict(b)
            assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]
            assert a == a and b == b
            if not any(isinstance(v, list) for v in dataclasses.astuple(a)):
                assert hash(a) == hash(b)
        if dataclasses.fields(fast):
            with pytest.raises(dataclasses.FrozenInstanceError):
                fast(*CALLS[generated.__name__][0][0]).a = 0
        with pytest.raises(TypeError):
            fast(1, 2, 3, 4, 5, 6, 7)


def test_default_factories_give_each_object_its_own_value() -> None:
    _, defaults, _, _ = map(initializers.fast_init, shapes(True))
    first, second = defaults(1), defaults(2)
    assert first.d == [] and first.d is not second.d


def test_initvar_fields_are_refused() -> None:
    @dataclass(frozen=True)
    class WithInitVar:
        a: int
        b: dataclasses.InitVar[int]

    with pytest.raises(TypeError, match="InitVar"):
        initializers.fast_init(WithInitVar)


HOT = [model.WorkloadRef, model.OwnerRef, model.Condition, model.ContainerSpec,
       model.ContainerRecord, model.PodRecord, model.Workload, model.Revision,
       model.ServiceRecord, graph.DigestUse, graph.RevisionGroup, images.ImageRef,
       images.ImageID, findings.Finding, findings.Pin, scoring.ScoreItem,
       scoring.WorkloadScore, evidence.ServiceTraffic, evidence.RevisionDigests,
       evidence.RevisionHolding, evidence.TagUse, document.DigestEntry,
       document.RevisionEntry, document.FindingEntry, document.ScoreEntry, document.PinEntry,
       document.ContainerEntry, document.ServiceEntry, document.WorkloadEntry]


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
def test_the_hot_records_use_it(cls: type) -> None:
    # dataclasses' frozen __init__ sets fields through object.__setattr__; fast_init's not.
    assert "__setattr__" not in cls.__init__.__code__.co_names
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
