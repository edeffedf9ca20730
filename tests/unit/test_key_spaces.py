"""Every key space of the event store holds a stream for any id a caller may choose: the
longest caller id, in the longest key space, is still an Identifier (an event's aggregateId).
Before, a product id of 57 to 64 characters passed the door and then failed building its
`product:<id>` event: a 500, and a product whose stock could never be set."""

import re

import pytest

from catalog.types import CALLER_ID_LENGTH, CALLER_ID_PATTERN, IDENTIFIER_PATTERN, LONGEST_KEY_SPACE
from eventstore.answers import PAYMENTS, RESERVATIONS
from eventstore.sagas import saga_stream
from inventory.stock import STREAM_PREFIX as PRODUCTS
from users.service import stream_of

LONGEST = "p" * CALLER_ID_LENGTH
KEY_SPACES = {
    "payment": PAYMENTS.stream,
    "reservation": RESERVATIONS.stream,
    "saga": saga_stream,
    "user": stream_of,
    "product": lambda caller_id: f"{PRODUCTS}{caller_id}",
}


@pytest.mark.parametrize("key_space", KEY_SPACES)
def test_the_longest_caller_id_has_a_stream_in_every_key_space(key_space):
    assert re.match(CALLER_ID_PATTERN, LONGEST) and not re.match(CALLER_ID_PATTERN, LONGEST + "p")
    stream = KEY_SPACES[key_space](LONGEST)
    assert re.match(IDENTIFIER_PATTERN, stream), stream
    assert len(stream) - len(LONGEST) <= LONGEST_KEY_SPACE
