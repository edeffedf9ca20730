"""The saga's own stream of an order's commands, `saga:<orderId>`: plain names, for the order
API too, which must not import the saga's code.

Its first command is always the payment's request (saga/machine.py asks nothing before it), so
"the saga's stream has a version 1" is "the order's payment has been asked for": from then on
the order is closed for changes (docs/DECISIONS.md), and the order API's update is written on
condition that this item is absent.
"""

PREFIX = "saga:"
PAYMENT_ASKED = 1  # the version of the saga's stream that asks for the payment


def saga_stream(order_id: str) -> str:
    return f"{PREFIX}{order_id}"
