"""Read a saved ``driftscan/report/v1`` JSON file back into the ``Report`` model.

``driftscan report REPORT.json -o OUT.html`` and the scenario validation page call
:func:`read` / :func:`from_data`, so a page rendered later from JSON is the page ``scan``
would have written. The text is parsed by :mod:`scanner.decoding` (nesting past its
depth limit is refused, not followed). The schema id is checked first (a different
document gets one clear message), then the document is validated against
scanner/schemas/report-v1.json and every violation is reported together, then
``json_format.parse`` builds the model.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from scanner import decoding, errors
from scanner.report import document as report_model
from scanner.report import json_format

__all__ = ["from_data", "read", "read_object"]

_MAX_LISTED = 10
_WRITE_HINT = "write one with `driftscan scan --format json -o FILE`"


@functools.cache
def _validator() -> Any:
    text = resources.files("scanner").joinpath("schemas/report-v1.json").read_text("utf-8")
    schema = json.loads(text)
    return jsonschema.Draft202012Validator(schema)


def read(path: str | Path) -> report_model.Report:
    """Load a report JSON file (``-`` is not accepted: name a file).

    Raises:
        errors.InputError: unreadable file, not JSON, another schema, or a document that
            breaks the v1 schema (every violation listed).
    """
    return from_data(read_object(path), name=str(path))


def read_object(path: str | Path) -> dict[str, Any]:
    """A report file's JSON object exactly as written (``report verify`` hashes it).

    Raises:
        errors.InputError: unreadable file, not JSON, or not a JSON object.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise errors.InputError(f"{p}: no such file",
                                hint=_WRITE_HINT) from e
    except (OSError, UnicodeDecodeError) as e:
        raise errors.InputError(f"{p}: cannot read ({e})") from e
    try:
        data = decoding.json_value(text)
    except decoding.Unparsable as e:
        raise errors.InputError(f"{p}: not JSON (line {e.line} {e.message})") from e
    except decoding.Problem as e:
        raise errors.InputError(f"{e.where(str(p))}, so it is not a driftscan report",
                                hint=_WRITE_HINT) from e
    if not isinstance(data, dict):
        raise errors.InputError(f"{p}: not a {report_model.SCHEMA} report (a JSON"
                                f" {type(data).__name__}, not an object)", hint=_WRITE_HINT)
    return data


def from_data(data: Any, *, name: str = "report") -> report_model.Report:
    """Validate parsed JSON (a report embedded in a scenario journal, say) into the model.

    Raises:
        errors.InputError: another schema or a document that breaks the v1 schema.
    """
    if not isinstance(data, dict) or data.get("schema") != report_model.SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise errors.InputError(
            f"{name}: not a {report_model.SCHEMA} report (schema: {found!r})",
            hint=_WRITE_HINT,
        )
    problems = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if problems:
        listed = "; ".join(
            f"{'/'.join(str(x) for x in e.absolute_path) or '(top)'}: {e.message}"
            for e in problems[:_MAX_LISTED]
        )
        more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise errors.InputError(
            f"{name}: {len(problems)} problem(s) with the report: {listed}{more}"
        )
    return json_format.parse(json.dumps(data), name=name)
