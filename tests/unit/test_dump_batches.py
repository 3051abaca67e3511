"""A kubectl ``List`` is decoded a batch of items at a time, with the answer of a whole decode.

``decoding.json_list`` splits only the layout kubectl writes and proves each split; any
other text, or a split it cannot prove, is decoded whole. Whatever the text, the scan
sees what decoding it whole gives: the same records, the same problems, the same errors.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import orjson
import pytest

from scanner import decoding, errors, model
from scanner.sources import dump

IMAGE_ID = "docker.io/library/web@sha256:"


def pod(i: int, digest: str = "a") -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"web-{i}", "namespace": "shop", "labels": {"app": "web"},
                     "annotations": {"note": "a \"quoted\" }, {\n line"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "web:1"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "web", "image": "web:1", "ready": True,
             "imageID": IMAGE_ID + digest * 64}]},
    }


def kubectl_list(items: list[object], indent: int = 4, **extra: object) -> bytes:
    return json.dumps({"apiVersion": "v1", "items": items, "kind": "List",
                       "metadata": {"resourceVersion": ""}, **extra}, indent=indent).encode()


def batched(data: bytes, batch_bytes: int = 64) -> list[object] | None:
    listed = decoding.json_list(data, batch_bytes)
    if listed is None:
        return None
    assert listed.wrapper["kind"] == "List"
    return [item for batch in listed.batches() for item in batch]


def records(snapshot: model.Snapshot) -> tuple[object, ...]:
    """Everything a snapshot holds but the time it was taken."""
    return (snapshot.workloads, snapshot.revisions, snapshot.pods, snapshot.services,
            snapshot.nodes, snapshot.gaps)


def whole_and_batched(data: bytes) -> tuple[model.Snapshot, model.Snapshot]:
    """The snapshot of ``data`` read as text (decoded whole), and read as bytes."""
    return (dump.load_texts([("dump.json", data.decode())]),
            dump.load_texts([("dump.json", data)]))


# --- the split ---------------------------------------------------------------------------------


@pytest.mark.parametrize("indent", [2, 4, 8])
def test_kubectl_layout_is_split_into_batches_with_every_item(indent: int) -> None:
    data = kubectl_list([pod(i) for i in range(40)], indent=indent)
    listed = decoding.json_list(data, 64)
    assert listed is not None
    spans = list(listed.batches())
    assert len(spans) > 10  # split for real, not one batch
    assert [item for batch in spans for item in batch] == orjson.loads(data)["items"]
    assert {k: v for k, v in listed.wrapper.items() if k != "items"} == {
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}}


def test_one_item_and_large_batches() -> None:
    data = kubectl_list([pod(0)])
    assert batched(data) == [pod(0)]
    many = kubectl_list([pod(i) for i in range(30)])
    assert batched(many, 1 << 20) == orjson.loads(many)["items"]


@pytest.mark.parametrize("text", [
    json.dumps({"kind": "List", "items": [pod(0), pod(1)]}),            # compact: no lines
    json.dumps({"kind": "List", "items": []}, indent=4),                # nothing to split
    json.dumps({"kind": "List", "items": [1, 2, 3]}, indent=4),         # not objects
    json.dumps([pod(0), pod(1)], indent=4),                             # a bare array
    json.dumps({"kind": "List", "items": [{}, pod(1)]}, indent=4),      # "{}" on one line
    json.dumps({"kind": "List", "items": [pod(0)]}, indent=4)[:-30],    # cut short
    json.dumps({"kind": "List", "items": [pod(0)]}, indent=4) + "x",    # trailing text
], ids=["compact", "empty", "scalars", "array", "empty-object", "truncated", "trailing"])
def test_other_layouts_are_left_to_the_whole_decode(text: str) -> None:
    assert decoding.json_list(text.encode(), 64) is None


def test_a_float_equal_to_the_marker_cannot_pass_for_it() -> None:
    # Two "items" keys: the decoder keeps the last. If the marker check compared values
    # only, 7.301946825e9 == 7301946825 would pass the first list off as the items.
    first = kubectl_list([pod(0), pod(1)]).decode().rstrip()[:-1]
    for number in ("7.301946825e9", "7301946825.0"):
        text = f'{first},\n    "items": [{number}]\n}}'
        assert orjson.loads(text)["items"] == [float(number)]
        assert decoding.json_list(text.encode(), 1 << 20) is None


def test_a_marker_already_in_the_text_is_not_used() -> None:
    data = kubectl_list([pod(i) for i in range(5)],
                        metadata={"resourceVersion": "7301946825"},
                        note=[5820361947, 9164082753])
    listed = decoding.json_list(data, 64)
    assert listed is not None and all(n == 4072815369 for n in listed.wrapper["items"])
    assert [i for b in listed.batches() for i in b] == orjson.loads(data)["items"]


def test_blocks_of_the_same_indent_after_the_items_do_not_end_them() -> None:
    # "trailer" closes blocks at the items' indent after the list: the end is the last
    # block followed by the line that closes the list.
    data = kubectl_list([pod(i) for i in range(6)],
                        trailer={"a": {"b": 1}, "c": [{"d": 2}]})
    assert batched(data) == orjson.loads(data)["items"]


def test_a_split_inside_an_item_is_caught_and_the_text_decoded_whole() -> None:
    # An item laid out at the items' own indent: "},\n        {" occurs inside it, so a
    # batch cut there is not JSON on its own.
    inner = ('{\n        "apiVersion": "v1", "kind": "Pod", "x": [\n        {\n        "a": 1'
             '\n        },\n        {\n        "b": 2\n        }\n        ],\n'
             '        "metadata": {"name": "odd", "namespace": "shop"},\n'
             '        "spec": {"containers": [{"name": "c", "image": "c:1"}]}\n        }')
    text = kubectl_list([pod(i) for i in range(3)]).decode()
    data = text.replace('"items": [\n        {', '"items": [\n        ' + inner + ",\n        {",
                        1).encode()
    listed = decoding.json_list(data, 1)
    assert listed is not None
    with pytest.raises(decoding.Unparsable):
        list(listed.batches())
    whole, streamed = whole_and_batched(data)
    assert records(streamed) == records(whole)
    assert sorted(p.name for p in streamed.pods) == ["odd", "web-0", "web-1", "web-2"]


# --- what the scan sees -------------------------------------------------------------------------


def test_the_fleet_dump_reads_the_same_either_way() -> None:
    from tests import kubedump

    data = json.dumps(kubedump.fleet(60), indent=4).encode()
    assert decoding.json_list(data) is not None
    whole, streamed = whole_and_batched(data)
    assert records(streamed) == records(whole)
    assert len(streamed.pods) > 100


def test_problems_keep_their_item_numbers_across_batches(tmp_path: Path) -> None:
    items: list[object] = [pod(i) for i in range(30)]
    items[16] = {"kind": "Pod", "metadata": {"name": "broken", "namespace": "shop"}}
    items[22] = {"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    path = tmp_path / "dump.json"
    path.write_bytes(kubectl_list(items))
    assert decoding.json_list(path.read_bytes()) is not None
    snap = dump.load([str(path)])
    reasons = [g.reason for g in snap.gaps]
    assert reasons == [
        f"{path} item 17 (Pod shop/broken): missing spec; left out of the scan",
        f"{path} item 23 (Gizmo g): unknown kind 'Gizmo'; left out of the scan",
    ]
    whole = dump.load_texts([(str(path), path.read_text())])
    assert [g.reason for g in whole.gaps] == reasons
    assert snap.provenance.inputs[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_nesting_past_the_limit_inside_an_item_is_refused_alike(tmp_path: Path) -> None:
    deep: object = 1
    for _ in range(decoding.MAX_DEPTH):
        deep = [deep]
    items = [pod(0), {**pod(1), "extra": deep}, pod(2)]
    data = kubectl_list(items)
    assert decoding.json_list(data, 64) is None  # not proven shallow: decoded whole
    path = tmp_path / "deep.json"
    path.write_bytes(data)
    with pytest.raises(errors.InputError, match="nested deeper than 200 levels"):
        dump.load([str(path)])
