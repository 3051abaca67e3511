"""The project's exceptions: one root, a small tree, each type saying what to do next.

::

    DriftscanError                  every error a user can act on (exit code 2)
    ├── InputError                  fix the input: unreadable file, bad YAML/JSON, unknown kind
    ├── ClusterUnreachable          the apiserver did not answer: check kubeconfig/context
    ├── PermissionGap               RBAC forbids every read (single reads become gaps)
    ├── RegistryError               the registry refused or did not answer
    ├── RenderFailed                a renderer's helper (Chromium for PDF) failed
    ├── ScenarioInvalid             a scenario file breaks the schema: fix the file
    ├── ProviderError               a test-cluster provider failed to start or stop
    │   └── ToolMissing             a binary is not built/installed: run the named command
    └── ScenarioFailed              the run failed (not a missed expectation)

``cli`` maps every ``DriftscanError`` to exit code 2 and prints its message, one line
(plus an optional hint). Library and subprocess errors are wrapped with ``raise … from``.
"""

from __future__ import annotations

__all__ = [
    "ClusterUnreachable",
    "DriftscanError",
    "InputError",
    "PermissionGap",
    "ProviderError",
    "RegistryError",
    "RenderFailed",
    "ScenarioFailed",
    "ScenarioInvalid",
    "ToolMissing",
]


class DriftscanError(Exception):
    """An error the user can act on; ``hint`` says what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class InputError(DriftscanError):
    """A file, argument or object the user supplied cannot be used."""


class ClusterUnreachable(DriftscanError):
    """The Kubernetes apiserver could not be reached or the context does not exist."""


class PermissionGap(DriftscanError):
    """RBAC forbids every read the command needs."""


class RegistryError(DriftscanError):
    """An OCI registry refused a request or did not answer."""


class RenderFailed(DriftscanError):
    """An external program a renderer drives (Chromium, for PDF) failed or hung."""


class ScenarioInvalid(DriftscanError):
    """A scenario file does not follow the scenario schema (library/schema.json)."""


class ProviderError(DriftscanError):
    """A test-cluster provider failed to start, stop or report its state."""


class ToolMissing(ProviderError):
    """A binary the provider needs is not built or not installed."""


class ScenarioFailed(DriftscanError):
    """A scenario run could not be carried out (the run failed, not the detection)."""
