"""Every tests/fixtures/<rule>/fires-*.json makes <rule> fire; every clean-*.json does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit import helpers


@pytest.mark.parametrize("path", helpers.rule_fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_outcome(path: Path) -> None:
    rule = path.parent.name
    found = helpers.analyse(helpers.load(path))[1]
    fired = [f for f in found if f.rule == rule]
    if path.name.startswith("fires-"):
        assert fired, f"{rule} did not fire on {path.name}; got {[f.rule for f in found]}"
        for f in fired:
            assert f.message
            assert f.remediation
    else:
        assert not fired, f"{rule} fired on {path.name}: {[f.message for f in fired]}"


def test_fixtures_exist_for_discovery() -> None:
    assert len(helpers.rule_fixtures()) >= 30
