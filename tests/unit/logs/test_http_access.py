"""Protean's HTTP wide event: one ``archipel.access.http`` record per request served by
``DomainContextMiddleware`` (a real FastAPI app through its TestClient)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from archipel.integrations.fastapi import DomainContextMiddleware
from archipel.utils.access_log import HTTP_REQUESTS
from archipel.utils.logging import bind_event_context, unbind_event_context
from tests.unit.logs.conftest import json_lines
from tests.unit.logs.test_access_events import shop

HTTP = "archipel.access.http"


def app_for(domain, **options):
    app = FastAPI()
    app.add_middleware(DomainContextMiddleware, route_domain_map={"/shop": domain}, **options)

    @app.post("/shop/orders/{order_id}")
    def place(order_id: str):
        bind_event_context(customer_tier="gold", http_status=999, dropped="x")
        unbind_event_context("dropped")
        return {"id": domain.process(domain.Place(order_id=order_id))}

    @app.get("/shop/boom")
    def boom():
        raise RuntimeError("kaput")

    @app.get("/shop/teapot")
    def teapot():
        return Response(status_code=418, headers={"token": "t0p"})

    @app.get("/shop/unavailable")
    def unavailable():
        return Response(status_code=503)

    @app.get("/health")
    def health():
        return {"ok": True}

    return TestClient(app, raise_server_exceptions=False)


def http_records(caplog):
    return [r for r in caplog.records if r.name == HTTP]


def test_one_event_per_request_with_protean_fields_and_the_commands_it_sent(make_domain, caplog):
    domain, _ = shop(make_domain)
    client = app_for(domain)
    with caplog.at_level(logging.INFO, logger="archipel.access"):
        answer = client.post(
            "/shop/orders/o-1",
            headers={"X-Request-ID": " req-1 ", "X-Forwarded-For": "10.0.0.9, 10.0.0.1", "User-Agent": "u" * 300},
        )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-1"
    (record,) = http_records(caplog)
    assert record.getMessage() == "access.http_completed" and record.levelno == logging.INFO
    assert (record.http_method, record.http_path, record.http_status) == ("POST", "/shop/orders/o-1", 200)
    assert record.route_pattern == "/shop/orders/{order_id}" and record.route_name == "place"
    assert record.request_id == "req-1" and record.client_ip == "10.0.0.9" and record.user_agent == "u" * 256
    assert record.commands_dispatched == [f"{domain.name}.Place.v1"] and record.commands_dispatched_count == 1
    assert record.correlation_id == answer.headers["x-correlation-id"]
    assert record.customer_tier == "gold" and record.http_status == 200 and not hasattr(record, "dropped")
    assert isinstance(record.http_duration_ms, float) and not hasattr(record, "http_request_headers")
    handler = [r for r in caplog.records if r.name == "archipel.access" and r.kind == "command"]
    assert handler[0].correlation_id == record.correlation_id  # the request's, on the handler's event


def test_levels_follow_the_status_and_an_exception_is_a_failure_with_its_traceback(make_domain, caplog):
    domain, _ = shop(make_domain)
    client = app_for(domain)
    with caplog.at_level(logging.INFO, logger="archipel.access"):
        assert client.get("/shop/teapot").status_code == 418
        assert client.get("/shop/unavailable").status_code == 503
        assert client.get("/shop/boom").status_code == 500
        assert client.get("/shop/missing").status_code == 404
    teapot, unavailable, boom, missing = http_records(caplog)
    assert (teapot.getMessage(), teapot.levelno) == ("access.http_completed", logging.WARNING)
    assert (unavailable.getMessage(), unavailable.levelno) == ("access.http_failed", logging.ERROR)
    assert (boom.getMessage(), boom.levelno, boom.http_status) == ("access.http_failed", logging.ERROR, 500)
    assert boom.error_type == "RuntimeError" and boom.error_message == "kaput" and boom.exc_info[0] is RuntimeError
    assert missing.http_status == 404 and missing.route_pattern == ""
    assert all(r.request_id and len(r.request_id) == 32 for r in (teapot, boom))  # made up: none was sent
    assert HTTP_REQUESTS == [0]  # Domain.process looks for the request's list only while one is served


def test_table_settings_exclude_paths_and_log_headers_redacted(make_domain, capsys):
    domain, _ = shop(
        make_domain,
        http={"exclude_paths": ["/health"], "log_request_headers": True, "log_response_headers": True},
    )
    domain.configure_logging(format="json", level="INFO")
    client = app_for(domain)
    client.get("/health")
    client.get("/shop/teapot", headers={"Authorization": "Bearer abc", "X-Trace": "t"})
    (event,) = [e for e in json_lines(capsys.readouterr().err) if e.get("logger") == HTTP]
    assert event["http_path"] == "/shop/teapot"
    assert event["http_request_headers"]["authorization"] == "[REDACTED]"
    assert event["http_request_headers"]["x-trace"] == "t"
    assert event["http_response_headers"]["token"] == "[REDACTED]"
    assert event["http_response_headers"]["x-request-id"] == event["request_id"]


@pytest.mark.parametrize(
    ("table", "options", "logged"),
    [
        ({"enabled": False}, {}, False),
        ({"enabled": False}, {"emit_http_wide_event": True}, True),
        ({}, {"emit_http_wide_event": False}, False),
        ({"exclude_paths": []}, {"exclude_paths": ["/shop/teapot"]}, False),
    ],
)
def test_middleware_arguments_win_over_the_table(make_domain, caplog, table, options, logged):
    domain, _ = shop(make_domain, http=table)
    client = app_for(domain, **options)
    with caplog.at_level(logging.INFO, logger="archipel.access"):
        client.get("/shop/teapot")
    assert bool(http_records(caplog)) is logged


def test_an_emission_failure_never_breaks_the_response(make_domain, caplog, monkeypatch):
    from archipel.integrations import http_access

    domain, _ = shop(make_domain)
    monkeypatch.setattr(http_access, "_emit", lambda *args: 1 / 0)
    client = app_for(domain)
    with caplog.at_level(logging.DEBUG):
        assert client.post("/shop/orders/o-2").status_code == 200
    assert [r for r in caplog.records if r.getMessage() == "http_wide_event_emission_failed"]


def test_exclude_paths_must_be_a_list():
    with pytest.raises(TypeError, match="exclude_paths takes a list"):
        DomainContextMiddleware(FastAPI(), route_domain_map={}, exclude_paths="/health")
