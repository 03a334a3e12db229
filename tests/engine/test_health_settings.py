"""Protean's ``[server.health]`` table and probes on archipel's health endpoint.

A ported ``domain.toml`` with ``[server.health]`` loads and is honoured (``port``, ``host``,
``enabled``, ``port_auto_increment``); anything else in the table is an error naming what is
allowed. The endpoint answers Protean's ``/livez`` and ``/readyz`` as well as ``/health``.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel import Domain
from archipel.engine.health import HealthServer
from archipel.engine.settings import EngineSettings
from archipel.errors import ConfigurationError


def settings(server: dict[str, Any]) -> EngineSettings:
    return EngineSettings.from_config({"server": server})


@given(st.integers(1, 65535), st.sampled_from(["127.0.0.1", "0.0.0.0", "::1"]), st.booleans())
def test_the_table_sets_port_host_and_auto_increment(port: int, host: str, auto: bool) -> None:
    got = settings({"health": {"port": port, "host": host, "port_auto_increment": auto}})
    assert (got.health_port, got.health_host, got.health_port_auto_increment) == (port, host, auto)


def test_protean_s_defaults_inside_the_table_and_none_without_it() -> None:
    got = settings({"health": {}})
    assert (got.health_port, got.health_host, got.health_port_auto_increment) == (8080, "127.0.0.1", False)
    assert settings({"health": {"enabled": False, "port": 9000}}).health_port is None
    assert settings({}).health_port is None  # archipel serves none unless asked
    assert settings({"health_port": 9001}).health_port == 9001
    assert settings({"health_port": 9001, "health": {"host": "127.0.0.1"}}).health_port == 9001


@pytest.mark.parametrize(
    ("health", "message"),
    [
        ({"prot": 1}, "unknown setting(s) prot; allowed: enabled, host, port, port_auto_increment"),
        ({"port": "8080"}, "port = '8080': expected a port number"),
        ({"port": 0}, "port = 0: expected a port number"),
        ({"port": 70000}, "port = 70000"),
        ({"port": True}, "port = True"),
        ({"enabled": "yes"}, "enabled = 'yes': expected true or false"),
        ({"port_auto_increment": 1}, "port_auto_increment = 1: expected true or false"),
        ({"host": ""}, "host = '': expected an address"),
        ("8080", "expected a table"),
    ],
)
def test_a_bad_table_is_an_error_naming_the_key(health: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings({"health": health})
    assert message in str(caught.value)


def test_two_different_ports_are_an_error() -> None:
    with pytest.raises(ConfigurationError, match="disagree"):
        settings({"health_port": 9001, "health": {"port": 9002}})


def test_a_ported_domain_toml_with_the_table_loads() -> None:
    domain = Domain(name="Probes", config={"server": {"health": {"port": 8181, "port_auto_increment": True}}})
    domain.init(traverse=False)
    got = EngineSettings.from_config(domain.config)
    assert (got.health_port, got.health_port_auto_increment) == (8181, True)


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, json.loads(response.read())


def test_a_taken_port_moves_on_with_auto_increment_and_fails_without() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(OSError):
            HealthServer(port, lambda: {"status": "ok"})
        server = HealthServer(port, lambda: {"status": "ok", "domain": "d"}, auto_increment=True).start()
        try:
            assert server.port > port
            for path in ("/health", "/healthz", "/livez", "/readyz"):
                assert _get(server.port, path) == (200, {"status": "ok", "domain": "d"})
        finally:
            server.stop()
    finally:
        taken.close()


@pytest.mark.parametrize(
    ("server", "reported"),
    [({}, True), ({"health_port": 8081}, False), ({"health": {}}, False), ({"health": {"enabled": False}}, False)],
)
def test_upgrade_check_notes_the_default_only_when_nothing_asks_for_an_endpoint(
    server: dict[str, Any], reported: bool
) -> None:
    from archipel.domain.upgrade import run_upgrade_checks

    domain = Domain(name="Probed", config={"server": server})
    domain.init(traverse=False)
    codes = [finding.code for finding in run_upgrade_checks(domain)]
    assert ("HEALTH_PORT_BIND" in codes) is reported
