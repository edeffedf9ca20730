"""The patching framework every fix is written with: each fix replaces MiniStack's names
through `patch` (or `register`, for its tables), which checks that the name is there with the
parameters the fix was written against, and logs any exception raised inside the replacement
before MiniStack can swallow it; `require` checks the other private names a fix reads.
Start-up refuses any MiniStack but the pinned one (`check_version`)."""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("localcloud.fixes")


MINISTACK_VERSION = "1.5.33"  # the fixes are written against this MiniStack (requirements.txt pins it)


class FixTargetChanged(RuntimeError):
    """MiniStack is not what a fix was written against: a name is gone or has another shape."""


def check_version(installed: str | None = None) -> None:
    installed = installed or importlib.metadata.version("ministack")
    if installed != MINISTACK_VERSION:
        raise FixTargetChanged(
            f"MiniStack {installed} is installed; the local cloud's fixes (localcloud/fixes/) are written "
            f"for {MINISTACK_VERSION}. Run `make install` to get the pinned version, or review each fix against "
            f"{installed} and move the pin."
        )


_MISSING = object()


def _where(owner: Any, name: str) -> str:
    return (
        f"{getattr(owner, '__module__', '')}.{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
        if inspect.isclass(owner)
        else f"{getattr(owner, '__name__', owner)}.{name}"
    )


def require(owner: Any, *names: str, fix: str) -> None:
    """The private names a fix reads (not replaces) are there."""
    for name in names:
        if getattr(owner, name, _MISSING) is _MISSING:
            raise FixTargetChanged(f"{fix}: MiniStack {MINISTACK_VERSION} had {_where(owner, name)}; this one has not")


def patch(
    owner: Any, name: str, wrap: Callable[[Any], Callable], *, fix: str, params: tuple[str, ...] | None = None
) -> Callable:
    """Replace owner.name by wrap(original), once it is checked to be there and, with `params`,
    to take those parameters. An exception raised inside the replacement is logged (MiniStack
    catches and drops many) and raised again. Returns the original."""
    require(owner, name, fix=fix)
    original = getattr(owner, name)
    if params is not None:
        found = tuple(inspect.signature(original).parameters)
        if found != params:
            raise FixTargetChanged(
                f"{fix}: {_where(owner, name)} takes ({', '.join(found)}); the fix was written "
                f"for ({', '.join(params)})"
            )
    setattr(owner, name, logged(wrap(original), f"{fix}: {_where(owner, name)}"))
    return original


def register(table: Any, key: str, value: Any, *, fix: str, where: str) -> None:
    """Add an entry to one of MiniStack's tables (resource handlers, public parameters); a
    handler's functions log what they raise, as `patch`'s replacements do."""
    if not isinstance(table, dict):
        raise FixTargetChanged(f"{fix}: {where} is no longer a dict")
    if isinstance(value, dict):
        value = {k: logged(v, f"{fix}: {where}[{key!r}][{k!r}]") if callable(v) else v for k, v in value.items()}
    table[key] = value


def logged(function: Callable, what: str) -> Callable:
    """`function`, with any exception it raises logged with its traceback, then raised again."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args, **kwargs):
            try:
                return await function(*args, **kwargs)
            except Exception:
                log.exception("local-cloud fix raised (%s)", what)
                raise

        return run_async

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            log.exception("local-cloud fix raised (%s)", what)
            raise

    return run
