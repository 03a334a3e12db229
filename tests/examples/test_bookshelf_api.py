"""Bookshelf's HTTP API (``examples/bookshelf/api.py``) with FastAPI's TestClient.

Commands go in through ``domain.process`` and queries come out of
projections through ``domain.query_for``; archipel's errors become 400, 404,
409 and 422 answers whose bodies never contain a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from examples.bookshelf.api import app
from fastapi.testclient import TestClient

from archipel.integrations.pytest import DomainFixture
from tests.examples._bookshelf import memory_bookshelf

DUNE = "9780441013593"


@pytest.fixture(scope="module")
def bookshelf() -> Iterator[DomainFixture]:
    with memory_bookshelf() as fixture:
        yield fixture


@pytest.fixture
def client(bookshelf: DomainFixture) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    bookshelf.reset()


def no_traceback(response: Any) -> Any:
    assert "Traceback" not in response.text and 'File "' not in response.text
    return response


def add_book(client: TestClient, **changes: Any) -> str:
    body = {"title": "Dune", "author": "Frank Herbert", "isbn": DUNE, "price": "18.99", **changes}
    response = client.post("/books", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["book_id"])


def test_add_a_book_and_read_it_back(client: TestClient) -> None:
    book_id = add_book(client)

    response = client.get(f"/books/{book_id}")
    assert response.status_code == 200
    assert response.json() == {
        "book_id": book_id,
        "title": "Dune",
        "author": "Frank Herbert",
        "isbn": DUNE,
        "price": "18.99",
        "currency": "USD",
    }
    listed = client.get("/books", params={"author": "Frank Herbert"}).json()
    assert listed["total"] == 1 and listed["books"][0]["book_id"] == book_id
    assert client.get("/books", params={"author": "Nobody"}).json()["total"] == 0


def test_a_rule_violation_is_a_400_naming_the_field(client: TestClient) -> None:
    response = no_traceback(client.post("/books", json={"title": "Free", "author": "A", "isbn": DUNE, "price": 0}))
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation_error",
        "message": "the data breaks a rule of the domain",
        "errors": {"price": ["A book's price must be greater than zero, not $0.00"]},
        "correlation_id": response.headers["X-Correlation-ID"],
    }
    # what the request model states (required fields, bounds) FastAPI checks first: 422
    missing = no_traceback(client.post("/books", json={"title": "Anonymous", "isbn": DUNE, "price": 5}))
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request"
    assert list(missing.json()["errors"]) == ["body.author"]
    assert client.get("/books").json()["total"] == 0


def test_unknown_ids_are_404(client: TestClient) -> None:
    for path in ("/books/nope", "/storefront/nope", "/orders/nope"):
        response = no_traceback(client.get(path))
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert no_traceback(client.post("/orders/nope/confirm")).status_code == 404


def test_price_update_and_restock_show_in_the_storefront(client: TestClient) -> None:
    book_id = add_book(client)
    repriced = client.put(f"/books/{book_id}/price", json={"price": "12.50"})
    assert repriced.status_code == 200 and repriced.json()["price"] == "12.50"

    restocked = client.post(f"/inventory/{book_id}/restock", json={"quantity": 4})
    assert restocked.status_code == 200 and restocked.json() == {"book_id": book_id, "in_stock": 4}

    entry = client.get(f"/storefront/{book_id}").json()
    assert (entry["price"], entry["in_stock"], entry["available"]) == ("12.50", 4, True)
    assert client.get("/storefront").json()["total"] == 1
    bad = no_traceback(client.post(f"/inventory/{book_id}/restock", json={"quantity": 0}))
    assert bad.status_code == 422 and list(bad.json()["errors"]) == ["body.quantity"]


def test_an_order_from_placement_to_shipping(client: TestClient) -> None:
    book_id = add_book(client)
    client.post(f"/inventory/{book_id}/restock", json={"quantity": 5})
    placed = client.post(
        "/orders",
        json={
            "customer_name": "Ada",
            "customer_email": "ada@example.com",
            "shipping_address": {"street": "1 Main St", "city": "Springfield"},
            "items": [{"book_id": book_id, "quantity": 2}],
        },
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["status"], order["total"], order["copies"]) == ("PENDING", "37.98", 2)

    confirmed = client.post(f"/orders/{order['order_id']}/confirm")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "SHIPPED"
    assert confirmed.json()["tracking_number"].startswith("PN-")
    assert client.get(f"/storefront/{book_id}").json()["in_stock"] == 3
    emails = client.get(f"/orders/{order['order_id']}/emails").json()
    assert [e["subject"] for e in emails["emails"]][0] == "We have your order"
    report = client.get("/reports/books").json()["books"][0]
    assert (report["copies_sold"], report["revenue"]) == (2, "37.98")

    again = no_traceback(client.post(f"/orders/{order['order_id']}/confirm"))
    assert again.status_code == 422
    cancel = no_traceback(client.post(f"/orders/{order['order_id']}/cancel", json={}))
    assert cancel.status_code == 400 and "status" in cancel.json()["errors"]


def test_confirming_without_stock_is_a_400_with_the_reason(client: TestClient) -> None:
    book_id = add_book(client)
    order = client.post(
        "/orders",
        json={
            "customer_name": "Bob",
            "customer_email": "bob@example.com",
            "shipping_address": {"city": "Bath"},
            "items": [{"book_id": book_id, "quantity": 1}],
        },
    ).json()
    response = no_traceback(client.post(f"/orders/{order['order_id']}/confirm"))
    assert response.status_code == 400
    assert response.json()["errors"] == {"items": ["Not enough copies of 'Dune': 0 in stock, 1 ordered"]}
    assert client.get(f"/orders/{order['order_id']}").json()["status"] == "PENDING"


def test_invalid_orders_are_422_naming_the_fields(client: TestClient) -> None:
    response = no_traceback(client.post("/orders", json={"customer_name": "Eve", "items": []}))
    assert response.status_code == 422
    named = {path.rsplit(".", 1)[-1] for path in response.json()["errors"]}
    assert {"customer_email", "shipping_address", "items"} <= named


def test_a_webhook_payload_no_store_keeps_is_a_400_not_a_500(client: TestClient) -> None:
    response = no_traceback(client.post("/webhooks/book-supply", json={"a": 2**64}))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["payload"]


def test_every_route_documents_its_error_statuses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    # 202: the answer with asynchronous processing (a Location to poll)
    assert set(paths["/books"]["post"]["responses"]) == {"201", "202", "400", "422"}
    assert set(paths["/orders/{order_id}/confirm"]["post"]["responses"]) == {
        "200", "202", "400", "404", "409", "422"
    }
    book = client.get("/openapi.json").json()["components"]["schemas"]["NewBook"]
    assert set(book["required"]) == {"title", "author", "isbn", "price"}


def test_the_distributor_webhook_goes_through_the_anti_corruption_layer(client: TestClient) -> None:
    payload = {
        "event": "title.listed",
        "sku": {"ean13": DUNE},
        "title": "Dune",
        "contributors": [{"name": "Frank Herbert", "role": "author"}],
        "list_price": {"cents": 1899, "currency": "USD"},
    }
    assert client.post("/webhooks/book-supply", json=payload).status_code == 202
    (book,) = client.get("/books").json()["books"]
    assert (book["title"], book["price"]) == ("Dune", "18.99")

    restock = {"event": "stock.replenished", "sku": {"ean13": DUNE}, "units": 3}
    assert client.post("/webhooks/book-supply", json=restock).status_code == 202
    assert client.get(f"/storefront/{book['book_id']}").json()["in_stock"] == 3


ORDER = {
    "customer_name": "Ada",
    "customer_email": "ada@example.com",
    "shipping_address": {"street": "1 Main St", "city": "Springfield"},
}


def test_the_correlation_id_of_a_request_reaches_its_messages_and_comes_back(
    client: TestClient, bookshelf: DomainFixture
) -> None:
    from examples.bookshelf import domain

    response = client.post(
        "/books",
        json={"title": "Dune", "author": "F", "isbn": DUNE, "price": "18.99"},
        headers={"X-Correlation-ID": "req-42"},
    )
    assert response.status_code == 201 and response.headers["X-Correlation-ID"] == "req-42"
    with domain.domain_context():
        traced = domain.event_store.read_correlated("req-42")
    kinds = {m["metadata"]["type"].split(".")[1] for m in traced}
    assert "AddBook" in kinds and "BookAdded" in kinds  # the command and what it caused

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    traced_by_w3c = client.post(
        "/books", json={"title": "Emma", "author": "J", "isbn": "9780141439587", "price": "9"},
        headers={"traceparent": parent},
    )
    assert traced_by_w3c.headers["X-Correlation-ID"] == trace_id
    assert traced_by_w3c.headers["traceparent"] == parent
    with domain.domain_context():
        assert domain.event_store.read_correlated(trace_id)

    fresh = client.get("/books")  # none given: one is made, and said
    assert len(fresh.headers["X-Correlation-ID"]) == 36


@pytest.mark.parametrize(
    "headers",
    [{"X-Correlation-ID": "has spaces in it"}, {"X-Correlation-ID": "x" * 129},
     {"traceparent": "00-not-a-trace-01"}, {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}],
)
def test_a_malformed_correlation_header_is_a_400(client: TestClient, headers: dict[str, str]) -> None:
    response = no_traceback(client.get("/books", headers=headers))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"


@pytest.mark.parametrize("book_id", [{"a": 1}, [1, 2], 1.5e300, None, True])
def test_a_malformed_identifier_in_a_body_is_a_400_never_a_500(client: TestClient, book_id: Any) -> None:
    add_book(client)
    response = no_traceback(
        client.post("/orders", json={**ORDER, "items": [{"book_id": book_id, "quantity": 1}]})
    )
    assert response.status_code in (400, 404, 422), response.text
    body = response.json()
    assert set(body) <= {"error", "message", "errors", "correlation_id"} and body["message"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"price": {"a": 1}}', b'{"title": ["x"], "price": "abc"}', b"null"],
)
def test_malformed_bodies_get_the_one_error_shape(client: TestClient, body: bytes) -> None:
    response = no_traceback(client.post("/books", content=body, headers={"content-type": "application/json"}))
    assert response.status_code in (400, 422), response.text
    answer = response.json()
    assert answer["error"] in ("invalid_request", "validation_error")
    assert answer["message"] and answer["correlation_id"] == response.headers["X-Correlation-ID"]
    assert "\"input\"" not in response.text  # what the client sent is not echoed back


def test_unknown_routes_and_methods_use_the_same_shape(client: TestClient) -> None:
    missing = client.get("/books/x/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "http_404"
    wrong = client.delete("/books")
    assert wrong.status_code == 405 and wrong.json()["error"] == "http_405"
