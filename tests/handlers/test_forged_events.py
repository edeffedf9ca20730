"""Events put on the bus by someone other than their producer (anyone the bus lets call
PutEvents): none moves money or stock, changes an order's read model or where a customer's email
goes. Payments, InventoryReservations, the OrdersProjection and the Email consumer act only on an
event the event store holds at its (aggregateId, version) with the same eventId, and on the
stored copy; a forged event fails with the reason, so it is retried and parked.

Each forged case is shown twice: forged, it changes nothing a customer or an operator can see;
appended to the event store first (as the platform's own services do), the same event has its
effect, so the refusal is the check's doing and not the test's."""

from __future__ import annotations

import uuid
from decimal import Decimal

import boto3
import pytest

from catalog import Caller, Envelope, EventType, new_event
from catalog.payloads import (
    InventoryReleaseRequested,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderItem,
    PaymentRefundRequested,
    PaymentRequested,
    UserRegistered,
)
from eventstore.store import NotInEventStore
from infra.consumers import INVENTORY_RESERVATIONS, ORDER_SAGA, PAYMENTS
from tests.support import aws, orders

WIRED = (ORDER_SAGA, PAYMENTS, INVENTORY_RESERVATIONS)  # the saga and its partners, as the rules route to them

ORDER = "order-800"
TOTAL = Decimal("800.00")


def not_held(event: Envelope) -> str:
    """The reason a consumer gives for an event the store does not hold, as a pattern."""
    return rf"^event {event.eventId} \({event.aggregateId}, v{event.version}\) is not in the event store"


def deliver(module: str, event: Envelope, context) -> dict:
    """The event as the bus hands it to that function's rule target."""
    import importlib

    return importlib.import_module(module).handler(orders.bus_event(event), context)


def forged(
    event_type: EventType,
    aggregate_id: str,
    payload,
    version: int,
    *,
    user_id: str = "order-saga",
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """An event as a stranger writes it: any id, any payload, the catalog's source and type."""
    event = new_event(
        event_type,
        aggregate_id=aggregate_id,
        payload=payload,
        version=version,
        user_id=user_id,
        correlation_id="corr-forged",
    )
    return event.model_copy(update={"eventId": event_id}) if event_id else event


def charges() -> dict[str, Decimal]:
    """The money the card network moved, by its idempotency key (a refund is negative)."""
    from payments.handler import provider

    return dict(provider().network.moved)


def stock() -> dict:
    item = boto3.client("dynamodb").get_item(TableName=aws.INVENTORY, Key={"productId": {"S": "SKU-1"}})["Item"]
    return {"available": int(item["available"]["N"]), "reserved": int(item["reserved"]["N"])}


def status(store, order_id: str = ORDER) -> str:
    from orders.service import OrderService

    return OrderService(store).load(order_id).status.value


class Platform:
    """The platform's own events, each appended by its producer and then delivered by the bus to
    every function of this test that consumes it (as the outbox and the rules do)."""

    def __init__(self, store, context):
        self.store, self.context = store, context
        self.delivered: set[uuid.UUID] = set()

    def run(self, order_id: str = ORDER) -> None:
        """Deliver every stored event of the order's streams not yet delivered, until none is left."""
        streams = [order_id, f"saga:{order_id}", f"payment:{order_id}", f"reservation:{order_id}"]
        while due := [e for s in streams for e in self.store.load(s) if e.eventId not in self.delivered]:
            for event in due:
                self.delivered.add(event.eventId)
                for spec in WIRED:
                    if event.eventType in spec.event_types:
                        deliver(spec.handler.rpartition(".")[0], event, self.context)

    def place(self, order_id: str = ORDER, *, run: bool = True) -> Envelope:
        """An order of one SKU-1 at 800.00, as the API stores it."""
        created = new_event(
            EventType.ORDER_CREATED,
            aggregate_id=order_id,
            version=1,
            user_id="cust-1",
            correlation_id="corr-1",
            payload=OrderCreated(
                orderId=order_id,
                customerId="cust-1",
                currency="EUR",
                items=(OrderItem(productId="SKU-1", quantity=1, price=TOTAL),),
                totalAmount=TOTAL,
            ),
        )
        self.store.append([created])
        if run:
            self.run(order_id)
        return created


@pytest.fixture
def platform(store, lambda_context):
    from inventory.stock import Stock

    Stock(store, aws.INVENTORY).set("SKU-1", 5, caller=Caller("ops", "setup"))
    return Platform(store, lambda_context)


def next_saga_version(store, order_id: str = ORDER) -> int:
    return len(store.load(f"saga:{order_id}")) + 1


# ---- Payments: a forged request charges nothing --------------------------------------------------


def test_a_forged_payment_request_of_a_cent_charges_nothing_and_the_order_is_paid_in_full(
    platform, store, lambda_context
):
    platform.place(run=False)
    deliver("saga.handler", store.load(ORDER)[0], lambda_context)  # the saga asks for 800.00 (not yet delivered)
    [asked] = store.load(f"saga:{ORDER}")
    cent = forged(
        EventType.PAYMENT_REQUESTED,
        f"saga:{ORDER}",
        version=1,
        payload=PaymentRequested(currency="EUR", orderId=ORDER, customerId="cust-1", amount=Decimal("0.01")),
    )
    with pytest.raises(NotInEventStore, match=not_held(cent) + f": event {asked.eventId} is stored there$"):
        deliver("payments.handler", cent, lambda_context)
    assert charges() == {} and store.load(f"payment:{ORDER}") == [] and status(store) == "PENDING"
    platform.run()  # the saga's own request, delivered
    assert charges() == {f"charge:{ORDER}": TOTAL} and status(store) == "COMPLETED"


def test_a_forged_payment_request_of_an_order_never_asked_charges_nothing(platform, store, lambda_context):
    platform.place(run=False)
    cent = forged(
        EventType.PAYMENT_REQUESTED,
        f"saga:{ORDER}",
        version=1,
        payload=PaymentRequested(currency="EUR", orderId=ORDER, customerId="cust-1", amount=Decimal("0.01")),
    )
    with pytest.raises(NotInEventStore, match=not_held(cent) + ": nothing is stored there$"):
        deliver("payments.handler", cent, lambda_context)
    assert charges() == {} and store.load(f"payment:{ORDER}") == []


def test_a_copy_of_the_sagas_request_with_its_amount_changed_is_charged_what_the_saga_asked(
    platform, store, lambda_context
):
    platform.place(run=False)
    deliver("saga.handler", store.load(ORDER)[0], lambda_context)
    [asked] = store.load(f"saga:{ORDER}")
    copy = asked.model_copy(update={"payload": asked.payload.model_copy(update={"amount": Decimal("0.01")})})
    assert deliver("payments.handler", copy, lambda_context)["outcome"] == "PAYMENT_PROCESSED"
    assert charges() == {f"charge:{ORDER}": TOTAL}
    assert store.load(f"payment:{ORDER}")[0].payload.amount == TOTAL


def test_a_charge_that_is_not_the_orders_total_is_not_payment_the_order_is_cancelled_and_refunded(platform, store):
    """Defence in depth beyond the bus: a request of 0.01 the store holds (a bug, or a writer of
    the store that is not the saga) is charged, and the saga refuses it as payment."""
    platform.place(run=False)
    cent = forged(
        EventType.PAYMENT_REQUESTED,
        f"saga:{ORDER}",
        version=1,
        payload=PaymentRequested(currency="EUR", orderId=ORDER, customerId="cust-1", amount=Decimal("0.01")),
    )
    store.append([cent])
    platform.run()
    reason = "payment of 0.01 EUR does not match the order's total of 800.00 EUR"
    assert (status(store), store.load(ORDER)[-1].payload.reason) == ("CANCELLED", reason)
    [charge] = [e for e in store.load(f"payment:{ORDER}") if e.eventType == EventType.PAYMENT_PROCESSED]
    assert charges() == {f"charge:{ORDER}": Decimal("0.01"), f"refund:{charge.payload.paymentId}": Decimal("-0.01")}
    assert [e.eventType for e in store.load(f"saga:{ORDER}")] == ["PAYMENT_REQUESTED", "PAYMENT_REFUND_REQUESTED"]
    assert stock() == {"available": 5, "reserved": 0}  # never reserved


# ---- Payments: a forged refund pays nothing --------------------------------------------------------


def refund_of(store, amount: str) -> Envelope:
    [charge] = store.load(f"payment:{ORDER}", up_to_version=1)
    return forged(
        EventType.PAYMENT_REFUND_REQUESTED,
        f"saga:{ORDER}",
        version=next_saga_version(store),
        payload=PaymentRefundRequested(
            currency="EUR", orderId=ORDER, paymentId=charge.payload.paymentId, amount=Decimal(amount), reason="goodwill"
        ),
    )


def test_a_forged_refund_of_a_completed_order_pays_nothing(platform, store, lambda_context):
    platform.place()
    assert status(store) == "COMPLETED"
    refund = refund_of(store, "9999.00")
    with pytest.raises(NotInEventStore, match=not_held(refund) + ": nothing is stored there$"):
        deliver("payments.handler", refund, lambda_context)
    assert charges() == {f"charge:{ORDER}": TOTAL}
    assert [e.eventType for e in store.load(f"payment:{ORDER}")] == ["PAYMENT_PROCESSED"]


def test_the_same_refund_the_store_holds_is_paid_up_to_the_charge(platform, store, lambda_context):
    platform.place()
    refund = refund_of(store, "800.00")
    store.append([refund])
    assert deliver("payments.handler", refund, lambda_context)["outcome"] == "PAYMENT_REFUNDED"
    assert charges()[f"refund:{refund.payload.paymentId}"] == -TOTAL


def test_a_stored_refund_of_more_than_was_charged_pays_nothing(platform, store, lambda_context):
    """Even a refund the store holds (so written by the saga's role) is paid only up to the charge
    it undoes: more is a bug, refused with the reason, and parked after its retries."""
    from payments.provider import RefundExceedsCharge

    platform.place()
    refund = refund_of(store, "9999.00")
    store.append([refund])
    with pytest.raises(RefundExceedsCharge, match=r"asks 9999.00 EUR, more than payment \S+ charged \(800.00 EUR\)$"):
        deliver("payments.handler", refund, lambda_context)
    assert charges() == {f"charge:{ORDER}": TOTAL}
    assert [e.eventType for e in store.load(f"payment:{ORDER}")] == ["PAYMENT_PROCESSED"]


# ---- InventoryReservations: a forged release gives no stock back -----------------------------------


def test_a_forged_release_of_a_completed_order_gives_no_stock_back(platform, store, lambda_context):
    platform.place()
    # completed: its unit was reserved, then shipped (it left the stock)
    assert (status(store), stock()) == ("COMPLETED", {"available": 4, "reserved": 0})
    release = forged(
        EventType.INVENTORY_RELEASE_REQUESTED,
        f"saga:{ORDER}",
        version=next_saga_version(store),
        payload=InventoryReleaseRequested(orderId=ORDER),
    )
    with pytest.raises(NotInEventStore, match=not_held(release) + ": nothing is stored there$"):
        deliver("inventory.handler", release, lambda_context)
    assert stock() == {"available": 4, "reserved": 0}
    assert [e.eventType for e in store.load(f"reservation:{ORDER}")] == ["INVENTORY_UPDATED", "INVENTORY_SHIPPED"]
    store.append([release])  # the same release, held by the store: the reservation ended when it shipped
    assert deliver("inventory.handler", release, lambda_context)["outcome"] == "already-ended"
    assert stock() == {"available": 4, "reserved": 0}


# ---- OrdersProjection: a forged cancellation leaves the read model as the store says ----------------


def read_model_status(order_id: str = ORDER) -> tuple[str, int]:
    from orders.read_model import OrdersReadModel

    view = OrdersReadModel(aws.ORDERS).get(order_id, consistent=True)
    assert view is not None, order_id
    return view.order.status.value, view.order.version


def test_a_forged_cancellation_leaves_the_read_model_as_the_event_store_says(platform, store, lambda_context):
    created = platform.place()
    deliver("projection.handler", created, lambda_context)
    [_, completion] = store.load(ORDER)
    cancel = forged(
        EventType.ORDER_CANCELLED,
        ORDER,
        version=2,
        user_id="cust-1",
        payload=OrderCancelled(orderId=ORDER, reason="forged"),
    )
    with pytest.raises(NotInEventStore, match=not_held(cancel) + f": event {completion.eventId} is stored there$"):
        deliver("projection.handler", cancel, lambda_context)  # before the completion: it would win the version
    assert read_model_status() == ("PENDING", 1)
    deliver("projection.handler", completion, lambda_context)
    assert read_model_status() == ("COMPLETED", 2) == (status(store), 2)
    later = forged(
        EventType.ORDER_CANCELLED,
        ORDER,
        version=3,
        user_id="cust-1",
        payload=OrderCancelled(orderId=ORDER, reason="forged"),
    )
    with pytest.raises(NotInEventStore, match=not_held(later) + ": nothing is stored there$"):
        deliver("projection.handler", later, lambda_context)
    assert read_model_status() == ("COMPLETED", 2)


def test_a_copy_of_the_completion_passed_off_as_a_cancellation_is_refused(platform, store, lambda_context):
    created = platform.place()
    deliver("projection.handler", created, lambda_context)
    completion = store.load(ORDER)[1]
    cancel = forged(
        EventType.ORDER_CANCELLED,
        ORDER,
        version=2,
        user_id="cust-1",
        event_id=completion.eventId,
        payload=OrderCancelled(orderId=ORDER, reason="forged"),
    )
    stored_as = ": it is stored as ORDER_COMPLETED, not ORDER_CANCELLED$"
    with pytest.raises(NotInEventStore, match=not_held(cancel) + stored_as):
        deliver("projection.handler", cancel, lambda_context)
    assert read_model_status() == ("PENDING", 1)


def test_the_same_cancellation_the_store_holds_is_projected(platform, store, lambda_context):
    created = platform.place(run=False)
    deliver("projection.handler", created, lambda_context)
    cancel = forged(
        EventType.ORDER_CANCELLED,
        ORDER,
        version=2,
        user_id="cust-1",
        payload=OrderCancelled(orderId=ORDER, reason="changed my mind"),
    )
    store.append([cancel])
    assert deliver("projection.handler", cancel, lambda_context)["outcome"] == "applied"
    assert read_model_status() == ("CANCELLED", 2)


# ---- Email: a forged registration redirects nothing, forged order events send nothing ---------------


def sent_to() -> list[tuple[list[str], str]]:
    from moto.ses.models import ses_backends

    return [(m.destinations["ToAddresses"], m.subject) for m in ses_backends["123456789012"]["us-east-1"].sent_messages]


def email_log() -> list[dict]:
    return sorted(
        boto3.resource("dynamodb").Table(aws.EMAIL_LOG).scan(ConsistentRead=True)["Items"], key=lambda item: item["id"]
    )


def registration(email: str, *, version: int = 1, event_id: uuid.UUID | None = None) -> Envelope:
    return forged(
        EventType.USER_REGISTERED,
        "user:cust-1",
        version=version,
        user_id="cust-1",
        event_id=event_id,
        payload=UserRegistered(userId="cust-1", email=email, name="Ada"),
    )


@pytest.fixture
def registered(store, lambda_context) -> Envelope:
    """Ada, registered through the API: the store holds her registration and she was welcomed."""
    genuine = registration("ada@example.com")
    store.append([genuine])
    deliver("notifications.handler", genuine, lambda_context)
    assert sent_to() == [(["ada@example.com"], "Welcome, Ada")]
    return genuine


@pytest.mark.parametrize("version", [1, 2])
def test_a_forged_registration_does_not_redirect_a_customers_emails(
    registered, platform, store, lambda_context, version
):
    before = email_log()
    redirect = registration("mallory@example.com", version=version)
    held = f"event {registered.eventId} is stored there" if version == 1 else "nothing is stored there"
    with pytest.raises(NotInEventStore, match=not_held(redirect) + f": {held}$"):
        deliver("notifications.handler", redirect, lambda_context)
    assert email_log() == before and len(sent_to()) == 1
    deliver("notifications.handler", platform.place(run=False), lambda_context)
    assert sent_to()[-1] == (["ada@example.com"], f"We received your order {ORDER}")


def test_a_copy_of_the_registration_with_another_address_acts_on_the_stored_address(store, lambda_context):
    """The altered copy arrives first (the bus delivers in any order), so nothing recorded yet
    holds the address: the stored registration's is the one welcomed and kept."""
    genuine = registration("ada@example.com")
    store.append([genuine])
    copy = registration("mallory@example.com", event_id=genuine.eventId)
    assert deliver("notifications.handler", copy, lambda_context)["outcome"] == "sent"
    assert sent_to() == [(["ada@example.com"], "Welcome, Ada")]
    assert [item["email"] for item in email_log() if item["id"].startswith("contact#")] == ["ada@example.com"]
    assert deliver("notifications.handler", genuine, lambda_context)["outcome"] == "sent"  # the welcome, once
    assert len(sent_to()) == 1


def test_forged_order_events_send_no_email(registered, platform, store, lambda_context):
    created = platform.place(run=False)
    deliver("notifications.handler", created, lambda_context)
    before, sent = email_log(), sent_to()
    lies = [
        forged(
            EventType.ORDER_CANCELLED,
            ORDER,
            version=2,
            user_id="cust-1",
            payload=OrderCancelled(orderId=ORDER, reason="call +1 555 0100 to get your money back"),
        ),
        forged(EventType.ORDER_COMPLETED, ORDER, version=2, payload=OrderCompleted(orderId=ORDER)),
        forged(
            EventType.ORDER_CREATED,
            "order-fake",
            version=1,
            user_id="cust-1",
            payload=created.payload.model_copy(update={"orderId": "order-fake"}),
        ),
    ]
    for lie in lies:
        with pytest.raises(NotInEventStore, match=not_held(lie)):
            deliver("notifications.handler", lie, lambda_context)
    assert email_log() == before and sent_to() == sent
    store.append([lies[0]])  # the same cancellation, held by the store: the customer hears of it
    deliver("notifications.handler", lies[0], lambda_context)
    assert sent_to()[-1] == (["ada@example.com"], f"Your order {ORDER} was cancelled")
