"""What can go wrong talking to a registry, as :class:`errors.RegistryError` subclasses.

Every message names the registry, repository and reference, with a hint saying what to
do; callers that record gaps (the resolver) tell the kinds apart by class.
"""

from __future__ import annotations

from scanner import errors

__all__ = ["NotFound", "Unauthorized", "Unreachable"]


class NotFound(errors.RegistryError):
    """The registry answered 404: the repository, tag, digest or blob does not exist."""


class Unauthorized(errors.RegistryError):
    """The registry or its token service refused the credentials (401/403)."""


class Unreachable(errors.RegistryError):
    """No HTTP answer: refused connection, timeout, DNS or TLS failure."""
