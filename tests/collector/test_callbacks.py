"""parse_collector_callback: the two documented payloads, and clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from reqfin_async.collector import (
    CollectorCallbackError,
    CollectorInfo,
    DeliveryKey,
    DisconnectionNotice,
    InvoiceDelivery,
    parse_collector_callback,
)

from .conftest import invoice_body


def test_an_invoice_delivery_is_decoded_with_its_file_and_times() -> None:
    delivery = parse_collector_callback(
        invoice_body(
            "INV-1", collector={"id": "free", "name": "Free", "logo": "x.png"}, data=b"%PDF-1.4"
        )
    )
    assert isinstance(delivery, InvoiceDelivery)
    assert delivery.remote_id == "A1"
    assert delivery.collector.id == "free"
    assert delivery.collector.name == "Free"
    assert delivery.collector.details["logo"] == "x.png"
    invoice = delivery.invoice
    assert invoice.data == b"%PDF-1.4"
    assert invoice.timestamp == datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)
    assert invoice.collected_timestamp == datetime(2024, 6, 10, 6, 14, 20, tzinfo=UTC)
    assert invoice.amount == "$93.50"
    assert invoice.mimetype == "application/pdf"
    assert invoice.metadata == {"order": "42"}
    assert delivery.key == DeliveryKey("free", "A1", "INV-1")
    assert "%PDF" not in repr(invoice)  # the file is not dumped into logs


def test_the_amount_may_be_absent_and_unknown_fields_are_skipped() -> None:
    body = msgspec.json.decode(invoice_body())
    del body["invoice"]["amount"]
    body["invoice"]["new_field"] = 1
    body["added_later"] = True
    delivery = parse_collector_callback(msgspec.json.encode(body))
    assert isinstance(delivery, InvoiceDelivery)
    assert delivery.invoice.amount is None


def test_an_older_server_sending_the_collector_as_its_id_is_understood() -> None:
    delivery = parse_collector_callback(invoice_body(collector="free"))
    assert isinstance(delivery, InvoiceDelivery)
    assert delivery.collector == CollectorInfo(id="free")


def test_a_disconnection_notice_is_decoded() -> None:
    body = msgspec.json.encode(
        {
            "type": "notification_disconnected",
            "collector": {"id": "orange", "name": "Orange"},
            "credential_id": "c-1",
            "user_id": "u-1",
            "remote_id": "A1",
        }
    )
    notice = parse_collector_callback(body)
    assert notice == DisconnectionNotice(
        collector=CollectorInfo(id="orange", name="Orange", details={}),
        credential_id="c-1",
        user_id="u-1",
        remote_id="A1",
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "Expected `object`"),
        (b'{"type": "invoice_v2", "remote_id": "A1"}', "Invalid value 'invoice_v2' - at `$.type`"),
        (b'{"remote_id": "A1"}', "missing required field `type`"),
        (invoice_body(data=b"x").replace(b'"eA=="', b'"%%not base64%%"'), "$.invoice.data"),
        (invoice_body(""), "$.invoice.id"),
        (invoice_body(remote_id=""), "$.remote_id"),
        (invoice_body(collector={"name": "Free"}), "$.collector.id"),
        (invoice_body(timestamp="yesterday"), "$.invoice.timestamp"),
        (invoice_body(timestamp=10**20), "$.invoice.timestamp"),
    ],
)
def test_a_body_that_is_not_a_callback_is_refused_naming_the_problem(
    body: bytes, problem: str
) -> None:
    with pytest.raises(CollectorCallbackError) as caught:
        parse_collector_callback(body)
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)
