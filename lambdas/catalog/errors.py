"""How a refused input is told: by the field at fault and what is wrong with it, never by its
value. An error is logged, kept as a dead-letter reason and answered to a caller, and an input
may be a customer's address or name (issue 30).

pydantic's own text quotes the input (`input_value='ada@example.com'`), and so do some of its
messages (a UUID's "found `@` at 3"), and a field's path can be the input too (an unknown key
is named by itself). `without_values` rebuilds the error from what may be said: each field's
path, with a key that is not a plain name left unnamed, and each message, less any part that
quotes the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError, PydanticKnownError

# A key named in a path: a model's field, or an unknown key shaped like one (`payload.phone`).
# Any other key (an address, a sentence) is told as UNNAMED: it is the sender's text.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
UNNAMED = "<field>"
# Messages whose context is taken from the input (pydantic-core's templates put it in `error`
# or `tag`), said by the template's part before it. A validator of ours raises value_error and
# assertion_error, and says what is wrong without the value (catalog/payloads.py).
_QUOTING = ("error", "tag")
_OURS = {"value_error", "assertion_error"}


def _named(loc: Iterable[int | str]) -> tuple[int | str, ...]:
    return tuple(part if isinstance(part, int) or _NAME.match(part) else UNNAMED for part in loc)


def field_path(loc: Iterable[int | str]) -> str:
    """The dotted path of a field (`items.0.price`), naming only what may be named."""
    return ".".join(map(str, _named(loc)))


def message(error: ErrorDetails) -> str:
    """What is wrong with the field, as pydantic says it, less any part taken from the input."""
    context = error.get("ctx") or {}
    if error["type"] in _OURS or not any(key in context for key in _QUOTING):
        return str(error["msg"])
    try:
        template = PydanticKnownError(error["type"], context).message_template  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):  # a custom error type, raised by a validator: no template
        return "Input is not valid"
    cut = min(template.index("{" + key + "}") for key in _QUOTING if "{" + key + "}" in template)
    said = template[:cut].rstrip(" ,:'")
    return said if "{" not in said else "Input is not valid"


def problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each field at fault and what is wrong with it: (path, message)."""
    return [(field_path(item["loc"]), message(item)) for item in error.errors(include_url=False)]


def without_values(error: ValidationError) -> ValidationError:
    """The same refusal (the same type, title, fields and kinds of error), saying no value: its
    text, its repr and its errors() hold no input."""
    details = [
        InitErrorDetails(
            # The message as context, not as the template: a pattern's {1,64} is not a placeholder.
            type=PydanticCustomError(item["type"], "{message}", {"message": message(item)}),
            loc=_named(item["loc"]),
            input=None,
        )
        for item in error.errors(include_url=False)
    ]
    return ValidationError.from_exception_data(error.title, details, hide_input=True)


# An event type is named in an error when it is shaped as one (ORDER_SHIPPED): whatever else
# the sender put in its place is not repeated.
_EVENT_TYPE_SHAPE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def unknown_event_type(value: object) -> str:
    """Why an event type is refused, quoting it only when it is shaped as one."""
    if isinstance(value, str) and _EVENT_TYPE_SHAPE.match(value):
        return f"unknown event type {value!r}"
    return "unknown event type: eventType is not an event type's name"
