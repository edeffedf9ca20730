"""What a function needs from outside, declared once: each handler module's `Settings`.

A field is one environment variable (its name, upper-cased) and says what the value names and
how the function uses it. The stacks set the variables and grant the access from these fields
(infra/stateless_stack.py), the handler tests build their moto tables from them, and the
function reads and validates them on its first event, with an error that names the variable:

    class Settings(FunctionSettings):
        loyalty_table_name: ReadWriteTable       # LOYALTY_TABLE_NAME, the `loyalty` table
        reply_to: SenderAddress                  # REPLY_TO, the stage's sender identity
        points_per_order: int = 10               # not set by the stacks: the default holds

A table field is named after the table's key in infra/tables.py, plus `_table_name`.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, ClassVar, Self, dataclass_transform, get_args, get_type_hints

TABLE_SUFFIX = "_table_name"


class Access(Enum):
    READ = "read"
    WRITE = "write"
    READ_WRITE = "read_write"


@dataclass(frozen=True)
class Table:
    """A DynamoDB table's name, and what the function does with its items."""

    access: Access


@dataclass(frozen=True)
class Bus:
    """The platform's event bus's name: the function puts events on it."""


@dataclass(frozen=True)
class OwnDeadLetters:
    """The URL of the function's own dead-letter queue: it parks what it refuses there."""


@dataclass(frozen=True)
class Sender:
    """The stage's sender address: the function sends email from it (SES)."""


@dataclass(frozen=True)
class CustomersAppClient:
    """The id of the customers' user-pool app client: the audience an ID token must be for."""


@dataclass(frozen=True)
class FromStage:
    """A value of the stage's configuration (infra/config.py), the field's namesake."""


ReadTable = Annotated[str, Table(Access.READ)]
WriteTable = Annotated[str, Table(Access.WRITE)]
ReadWriteTable = Annotated[str, Table(Access.READ_WRITE)]
BusName = Annotated[str, Bus()]
DeadLetterQueueUrl = Annotated[str, OwnDeadLetters()]
SenderAddress = Annotated[str, Sender()]
CustomersAppClientId = Annotated[str, CustomersAppClient()]

Use = Table | Bus | OwnDeadLetters | Sender | CustomersAppClient | FromStage


class MissingSetting(RuntimeError):
    pass


_read: dict[type, Any] = {}  # each function's settings, read on its first event


def forget_read_settings() -> None:
    """Read them again on the next event: for tests, where each test is a new container."""
    _read.clear()


_KINDS: dict[type, tuple[str, Callable[[str], Any]]] = {
    str: ("a string", str),
    int: ("an integer", int),
    Decimal: ("a decimal number", Decimal),
}


@dataclass_transform(kw_only_default=True, frozen_default=True)
class FunctionSettings:
    """A function's settings: each subclass is a frozen dataclass of its fields.

    Plain Python, not pydantic: the publisher, which parses no event models, would otherwise
    import pydantic for its settings alone (what that cost its cold start:
    docs/performance/startup-declarations.md)."""

    _fields: ClassVar[dict[str, tuple[type, Use | None, Any]]] = {}  # name: (kind, use, default)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True, kw_only=True)(cls)
        hints = get_type_hints(cls, include_extras=True)
        cls._fields = {}
        for field in fields(cls):  # type: ignore[arg-type]
            kind, *marks = get_args(hints[field.name]) or (hints[field.name],)
            if kind not in _KINDS:
                raise TypeError(f"{cls.__qualname__}.{field.name}: a setting is one of {[k.__name__ for k in _KINDS]}")
            use = next((mark for mark in marks if isinstance(mark, Use)), None)
            cls._fields[field.name] = (kind, use, field.default)

    @classmethod
    def fields(cls) -> list[str]:
        return list(cls._fields)

    @classmethod
    def current(cls) -> Self:
        """The function's settings, read from the environment on the container's first event."""
        if cls not in _read:
            _read[cls] = cls.from_environment()
        return _read[cls]

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable a field is read from."""
        if field not in cls._fields:
            raise KeyError(f"{cls.__module__}.{cls.__name__} has no setting {field!r}")
        return field.upper()

    @classmethod
    def uses(cls) -> dict[str, Use | None]:
        """Each field and what it names (None: a plain value the stacks leave to its default)."""
        return {name: use for name, (_, use, _) in cls._fields.items()}

    @classmethod
    def tables(cls) -> dict[str, Access]:
        """The tables the function uses, by their key in infra/tables.py."""
        return {
            name.removesuffix(TABLE_SUFFIX): use.access for name, use in cls.uses().items() if isinstance(use, Table)
        }

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Self:
        """The settings from the environment, or MissingSetting naming every variable at fault."""
        values: dict[str, Any] = {}
        missing, wrong = [], []
        for name, (kind, _, default) in cls._fields.items():
            text = environ.get(cls.variable(name))
            if not text:
                if default is MISSING:
                    missing.append(cls.variable(name))
                continue
            described, parse = _KINDS[kind]
            try:
                values[name] = parse(text)
            except (ValueError, ArithmeticError):
                wrong.append(f"{cls.variable(name)}: not {described}")  # the variable, not its value
        if missing:
            raise MissingSetting(
                f"{cls.__module__}: environment variable {', '.join(missing)} not set: "
                "is the function deployed by infra/?"
            )
        if wrong:
            raise MissingSetting(f"{cls.__module__}: {'; '.join(wrong)}")
        return cls(**values)
