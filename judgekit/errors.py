"""Exceptions raised by judgekit.

The tree::

    JudgeError
     +- ConfigError(ValueError)          a caller's mistake; names the field
     |   +- MissingDependencyError(ImportError)   an optional extra is not installed
     |   +- TemplateError                a prompt template is malformed or misses a field
     +- ProviderError                    the backend failed at run time
     |   +- ProviderConnectionError      could not reach it / connection dropped
     |   |   +- JudgeTimeoutError        no reply in time
     |   +- RateLimitError               429
     |   +- AuthenticationError          401 / 403 (never retried)
     |   +- ProviderResponseError        2xx but empty, filtered or unreadable
     |       +- EmptyReplyError          2xx with no text at all
     +- ParseError(ValueError)           the judge replied, but not in the expected form
     +- CircuitOpenError                 the reward adapter's circuit breaker is open

`JudgeInterface.evaluate` turns a `ProviderError` into ``JudgeResponse(success=False)``; a
`ConfigError` always propagates. Messages never contain API keys. Every exception pickles.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigError",
    "EmptyReplyError",
    "JudgeError",
    "JudgeTimeoutError",
    "MissingDependencyError",
    "ParseError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderResponseError",
    "RateLimitError",
    "TemplateError",
]


class JudgeError(Exception):
    """Base class of every judgekit exception."""


class ConfigError(JudgeError, ValueError):
    """Invalid configuration or input. ``field`` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.field))


class MissingDependencyError(ConfigError, ImportError):
    """An optional dependency is missing; the message holds the exact ``pip install`` line."""

    def __init__(self, message: str, field: str | None = None) -> None:
        ConfigError.__init__(self, message, field)


class TemplateError(ConfigError):
    """A prompt template is malformed or names a placeholder that was not given."""


class ProviderError(JudgeError):
    """A backend failed at run time (HTTP error, connection, empty reply)."""

    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retryable = self.retryable_default if retryable is None else retryable
        self.retry_after = retry_after
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{where + ': ' if where else ''}{self.message}{status}"


def _rebuild(cls: type[ProviderError], message: str, state: dict[str, Any]) -> ProviderError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class ProviderConnectionError(ProviderError):
    """The backend could not be reached, or dropped the connection. ``unreachable`` is True when no
    connection could be made at all (refused, unknown host, no route): what ``fail_fast`` counts."""

    retryable_default = True
    unreachable = False

    def __init__(self, message: str, *, unreachable: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.unreachable = unreachable


class JudgeTimeoutError(ProviderConnectionError):
    """The backend did not answer within ``timeout`` seconds."""


class RateLimitError(ProviderError):
    """HTTP 429. ``retry_after`` holds the server's hint, when it gave one."""

    retryable_default = True


class AuthenticationError(ProviderError):
    """HTTP 401/403: the key is missing, wrong or not allowed. Never retried."""


class ProviderResponseError(ProviderError):
    """A 2xx reply that is empty, filtered or unreadable."""


class EmptyReplyError(ProviderResponseError):
    """A 2xx reply with no text (``finish_reason`` says why, e.g. ``length``). Not retried by default."""


class ParseError(JudgeError, ValueError):
    """The judge's reply could not be read as the expected verdict."""

    def __init__(self, message: str, raw_text: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.raw_text = raw_text
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.raw_text, self.kind))


class CircuitOpenError(JudgeError):
    """The circuit breaker is open: the judge failed too often and is resting."""
