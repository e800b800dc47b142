"""Who is acting, through which channel and from where: one context per request, command or task.

The request's user is read when an event is written, not when the context is set: the API
authenticates its bearer token inside django-ninja, long after the middleware ran, and sets
``request.user`` then (``exoderm.api.main.BearerToken``).
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest


class Channel:
    WEB = "web"
    API = "api"
    CLI = "cli"
    WORKER = "worker"


@dataclass(frozen=True, slots=True)
class Who:
    user_id: int | None
    username: str
    role: str
    clinic_id: int | None


@dataclass(frozen=True, slots=True)
class Context:
    channel: str
    request_id: str = ""
    ip: str = ""
    user_agent: str = ""
    request: HttpRequest | None = field(default=None, repr=False)
    # Who acts where there is no logged-in user: the operating-system account of a command.
    actor: str = ""

    def who(self, user: Any = None) -> Who:
        if user is None and self.request is not None:
            user = getattr(self.request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return Who(
                user.pk, user.get_username(), getattr(user, "role", ""), getattr(user, "clinic_id", None)
            )
        return Who(None, self.actor, "", None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return ""


# Code that runs outside a request and outside a task is a command-line program (manage.py,
# `exoderm manage`, a shell, migrations): that is the default.
_CLI = Context(channel=Channel.CLI, actor=_os_user())
_current: ContextVar[Context] = ContextVar("exoderm_audit_context", default=_CLI)


def current() -> Context:
    return _current.get()


@contextlib.contextmanager
def bound(context: Context) -> Iterator[Context]:
    """Run the block with ``context`` as the current audit context."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def enter(context: Context) -> Any:
    """Set ``context`` until :func:`leave` with the returned token (for signal pairs)."""
    return _current.set(context)


def leave(token: Any) -> None:
    _current.reset(token)
