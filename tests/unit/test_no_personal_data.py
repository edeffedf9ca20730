"""No personal data in logs, dead-letter reasons or answers: an input refused is told by the
field at fault and what is wrong with it, never by its value (issue 30).

Each door is fed an address, and the address is not in the error it raises: the error a
consumer logs, Lambda records as its error message and a dead-letter queue keeps as the reason,
or the 400 an API answers. tests/handlers/test_no_personal_data.py feeds the functions."""

from __future__ import annotations

import copy
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field

from catalog import EventType, parse_event
from catalog.examples import example_of
from catalog.types import Email
from common.http import ApiError, parse_body
from common.settings import MissingSetting
from saga.sweep import Settings as SweepSettings

ADDRESS = "ada@example.com"


def registration() -> dict:
    return example_of(EventType.USER_REGISTERED)[1].to_detail()


# Each way an event can be malformed with the address in it, and the field the refusal names.
MALFORMED_EVENTS = {
    "an address that is not one": (lambda d: d["payload"].update(email=f"Ada <{ADDRESS}>"), "payload.email"),
    "a field the payload does not have": (lambda d: d["payload"].update(phone=ADDRESS), "payload.phone"),
    "a payload that is not an object": (lambda d: d.update(payload=ADDRESS), "payload"),
    "an event id that is not a UUID": (lambda d: d.update(eventId=ADDRESS), "eventId"),
    "a timestamp that is not one": (lambda d: d.update(timestamp=ADDRESS), "timestamp"),
    "the address as a field's name": (lambda d: d["payload"].update({ADDRESS: "x"}), "payload.<field>"),
    "the address as the event type": (lambda d: d.update(eventType=ADDRESS), "eventType"),
}


@pytest.mark.parametrize("spoil", MALFORMED_EVENTS, ids=list(MALFORMED_EVENTS))
def test_an_event_refused_names_the_field_at_fault_never_its_value(spoil):
    change, field = MALFORMED_EVENTS[spoil]
    detail = copy.deepcopy(registration())
    change(detail)
    with pytest.raises(ValueError) as refusal:
        parse_event(detail)
    assert ADDRESS not in str(refusal.value)
    assert field in str(refusal.value)  # still says where


def test_an_events_validation_error_keeps_no_input_for_whoever_reads_it_later():
    """The error's own details (errors()) hold no input either: whatever logs them later."""
    from pydantic import ValidationError

    detail = registration()
    detail["payload"]["email"] = f"Ada <{ADDRESS}>"
    with pytest.raises(ValidationError) as refusal:
        parse_event(detail)
    assert ADDRESS not in repr(refusal.value.errors()) and ADDRESS not in repr(refusal.value)
    assert [error["loc"] for error in refusal.value.errors()] == [("payload", "email")]


def test_a_payload_model_built_in_code_hides_its_input_too():
    """A handler that builds a payload (not through parse_event) and fails: its error, logged by
    the runtime, says no value."""
    from pydantic import ValidationError

    from catalog.payloads import UserRegistered

    with pytest.raises(ValidationError) as refusal:
        UserRegistered(userId="u-1", email=f"Ada <{ADDRESS}>", name="Ada")
    assert ADDRESS not in str(refusal.value)


class _Register(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: str = Field(min_length=1, max_length=200)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": f"Ada <{ADDRESS}>", "name": "Ada"}, "email"),
        ({"email": "a@b.co", "name": "Ada", "phone": ADDRESS}, "phone"),
        ({"email": "a@b.co", "name": "Ada", ADDRESS: 1}, "<field>"),  # the address as a field's name
        ({"email": "a@b.co", "name": {"first": ADDRESS}}, "name"),
    ],
    ids=["a bad address", "an unknown field", "the address as a field's name", "a wrong type"],
)
def test_an_api_body_refused_names_the_field_at_fault_never_its_value(body, field):
    with pytest.raises(ApiError) as refusal:
        parse_body(json.dumps(body), _Register)
    sent = refusal.value.to_response().body
    assert sent is not None
    answer = json.loads(sent)
    assert ADDRESS not in json.dumps(answer) and ADDRESS not in str(refusal.value)
    assert any(error["field"].startswith(field) for error in answer["errors"]), answer


def test_a_body_that_is_not_json_is_refused_without_its_text():
    with pytest.raises(ApiError) as refusal:
        parse_body('{"email": "' + ADDRESS + '", oops}', _Register)
    assert ADDRESS not in str(refusal.value) and "body" in str(refusal.value)


def test_a_malformed_setting_is_named_without_its_value():
    orders, store, timeout = (SweepSettings.variable(field) for field in SweepSettings.fields())
    with pytest.raises(MissingSetting) as refusal:
        SweepSettings.from_environment({orders: "o", store: "e", timeout: ADDRESS})
    assert ADDRESS not in str(refusal.value)
    assert timeout in str(refusal.value) and "integer" in str(refusal.value)


def test_an_unknown_event_type_is_named_only_when_it_is_shaped_as_one():
    from catalog import UnknownEventType

    for named in ("ORDER_TELEPORTED", ADDRESS):
        with pytest.raises(UnknownEventType) as refusal:
            parse_event(registration() | {"eventType": named})
        assert (named in str(refusal.value)) == (named == "ORDER_TELEPORTED"), str(refusal.value)
