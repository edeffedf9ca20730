"""Field types shared by every event and command: identifiers, money and quantities."""

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, StringConstraints

# Identifiers travel in URLs, DynamoDB keys and log lines: a conservative alphabet keeps
# injection strings, path tricks and control characters out at the edge.
IDENTIFIER_LENGTH = 64
IDENTIFIER_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{IDENTIFIER_LENGTH - 1}}}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
# What a caller may choose (a product's id, an order's id in a path): no ':', which the event
# store's key spaces use (`payment:<orderId>`, `user:<sub>`), so a caller's id is never theirs;
# and short enough that the longest key space's stream of it (`reservation:<id>`) is still an
# Identifier (tests/unit/test_key_spaces.py).
LONGEST_KEY_SPACE = len("reservation:")
CALLER_ID_LENGTH = IDENTIFIER_LENGTH - LONGEST_KEY_SPACE
CALLER_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{CALLER_ID_LENGTH - 1}}}$"
CallerId = Annotated[str, StringConstraints(pattern=CALLER_ID_PATTERN)]

# Money is exact: Decimal with at most two places, never a binary float. On the wire it is a
# string ("19.99"), as payment APIs do, so no JSON reader turns it into a float.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str, when_used="json"),
]

MAX_QUANTITY = 10_000  # of one line, and of one product in a reservation
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY, strict=True)]

# Deliberately simple: one @, a dot in the domain, no spaces; the mail server has the last word.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]

# ISO 4217 code. Orders placed before currencies existed (ORDER_CREATED v1) were in euros, and
# so was every payment before payments named theirs (PAYMENT_* v1): the card network's account
# charged in its own currency.
DEFAULT_CURRENCY = "EUR"
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# What the card network charges in (payments/provider.py holds a limit for each): an order, and
# a product's price, is in one of these. Events carry any ISO 4217 code.
SUPPORTED_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD")


def supported(code: str) -> str:
    """A currency the card network takes (a validator for the APIs' bodies)."""
    if code not in SUPPORTED_CURRENCIES:
        raise ValueError(f"not a currency the platform sells in ({', '.join(SUPPORTED_CURRENCIES)})")
    return code
