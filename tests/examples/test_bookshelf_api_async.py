"""Bookshelf's HTTP API with asynchronous processing: 202 with a location to poll, which
answers 404 until ``archipel server`` has handled the command and projected its events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples.bookshelf.api import app
from fastapi.testclient import TestClient

from archipel.engine import run_server
from archipel.integrations.pytest import DomainFixture
from tests.examples._bookshelf import memory_bookshelf

ASYNC = {
    "command_processing": "async",
    "event_processing": "async",
    "message_processing": "async",
    "enable_outbox": True,
}


@pytest.fixture
def bookshelf() -> Iterator[DomainFixture]:
    with memory_bookshelf(**ASYNC) as fixture:
        yield fixture


@pytest.fixture
def client(bookshelf: DomainFixture) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def serve(bookshelf: DomainFixture) -> None:
    """What ``archipel server --test-mode`` does: handle everything pending, then stop."""
    with bookshelf.domain.domain_context():
        assert run_server(bookshelf.domain, test_mode=True) == 0


def test_adding_a_book_is_accepted_then_readable_once_projected(client, bookshelf):
    body = {"title": "Dune", "author": "Frank Herbert", "isbn": "9780441013593", "price": "18.99"}
    answer = client.post("/books", json=body)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["status"] == "accepted" and accepted["command_id"]
    location = answer.headers["location"]
    assert location == accepted["location"] == f"/books/{accepted['book_id']}"
    assert client.get(location).status_code == 404  # not handled yet: poll
    serve(bookshelf)
    book = client.get(location)
    assert book.status_code == 200
    assert book.json()["title"] == "Dune" and book.json()["price"] == "18.99"


def test_an_order_is_accepted_then_its_summary_appears(client, bookshelf):
    added = client.post(
        "/books", json={"title": "Emma", "author": "Jane Austen", "isbn": "9780141439587", "price": "9.50"}
    ).json()
    serve(bookshelf)
    assert client.post(f"/inventory/{added['book_id']}/restock", json={"quantity": 5}).status_code == 202
    serve(bookshelf)
    order = {
        "customer_name": "Ann",
        "customer_email": "ann@example.com",
        "shipping_address": {"street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
        "items": [{"book_id": added["book_id"], "quantity": 2}],
    }
    answer = client.post("/orders", json=order)
    assert answer.status_code == 202, answer.text
    location = answer.headers["location"]
    assert client.get(location).status_code == 404
    serve(bookshelf)
    summary = client.get(location).json()
    assert summary["order_id"] == answer.json()["order_id"] and summary["copies"] == 2
