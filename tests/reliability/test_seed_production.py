"""Seed 002's production ``domain.toml`` runs the bookshelf under ``archipel server``.

The seed's bookstore (the conformance suite's ``bookshelf`` package) is
copied next to a ``domain.toml`` holding the seed's "production
configuration reference" — PostgreSQL, Redis, async commands and events,
outbox, priority lanes, DLQ — with its three processing lines placed where
TOML makes them domain settings (above the first table). ``archipel server
--domain bookshelf`` runs as a user runs it; a client process places an
order and the process manager drives it through stock reservation and
shipment, every step a message through outbox, Redis and a subscription.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
SEED_PACKAGE = ROOT.parent / "shared" / "conformance" / "bookshelf"

PRODUCTION_TOML = """\
event_processing = "async"
command_processing = "async"
enable_outbox = true

[databases.default]
provider = "postgresql"
database_uri = "${DATABASE_URL}"

[brokers.default]
provider = "redis"
url = "${REDIS_URL}"

[event_store]
provider = "memory"

[server]
default_subscription_type = "stream"
messages_per_tick = 100
priority_lanes = true

[server.stream_subscription]
blocking_timeout_ms = 100
max_retries = 3
retry_delay_seconds = 1
enable_dlq = true
"""

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    from bookshelf import domain
    from bookshelf.book import AddBook
    from bookshelf.inventory import RestockInventory
    from bookshelf.order import ConfirmOrder, Order, PlaceOrder
    from bookshelf.projections import BookCatalog, BookReport, StorefrontView
    from archipel import Q
    from archipel.engine.dlq import dead_letter_store
    from archipel.engine.status import subscription_status

    def wait(what, probe, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.1)
        letters = [(x.subscription, x.error[-300:]) for x in dead_letter_store(domain).list()]
        raise SystemExit(f"timed out waiting for {what}; dead letters: {letters}")

    domain.init()
    with domain.domain_context():
        domain.setup_database()
        command_id = domain.process(AddBook(title="Dune", author="Frank Herbert", isbn="9780441013593", price_amount=18.99))
        catalog = domain.query_for(BookCatalog)
        dune = wait("the catalogue", lambda: catalog.find(Q(title="Dune")).first)
        domain.process(RestockInventory(book_id=dune.book_id, quantity=5))
        storefront = domain.query_for(StorefrontView)
        wait("the restock", lambda: (v := storefront.get_or_none(dune.book_id)) and v.quantity == 5)
        domain.process(PlaceOrder(customer_name="Ada", street="1 Main St", city="Springfield", zip_code="12345",
                                  items=[{"book_id": dune.book_id, "title": "Dune", "quantity": 2, "unit_price": 18.99}]))
        orders = domain.repository_for(Order)
        order = wait("the order", lambda: orders.find(Q(customer_name="Ada")).first)
        domain.process(ConfirmOrder(order_id=order.id))
        wait("the shipment", lambda: str(orders.get(order.id).status).upper() == "SHIPPED")
        report = domain.query_for(BookReport)
        wait("the sales report", lambda: (r := report.get_or_none(dune.book_id)) and r.copies_sold == 2)
        wait("the storefront", lambda: storefront.get(dune.book_id).quantity == 3)
        rows = wait("empty queues", lambda: (s := subscription_status(domain)) and all(
            (r.lag or 0) == 0 and (r.pending or 0) == 0 for r in s if r.active) and s)
        print(json.dumps({
            "command_id": command_id,
            "dead_letters": len(dead_letter_store(domain).list()),
            "handlers": sorted(r.name.rsplit(".", 1)[1] for r in rows if r.active),
        }))
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_seed_production_config_runs_the_bookshelf_under_archipel_server(
    postgres_server, redis_flushed_url, tmp_path: Path
):
    if not SEED_PACKAGE.is_dir():
        pytest.skip(f"the seed's bookshelf package is not at {SEED_PACKAGE}")
    package = tmp_path / "bookshelf"
    shutil.copytree(SEED_PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "domain.toml"))
    (package / "domain.toml").write_text(PRODUCTION_TOML)
    (tmp_path / "client.py").write_text(CLIENT)
    database = postgres_server.create_database(prefix="seed")
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT / "src")]),
        DATABASE_URL=postgres_server.libpq_url(database),
        REDIS_URL=redis_flushed_url,
        NO_COLOR="1",
        COLUMNS="200",
    )
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "archipel", "server", "--domain", "bookshelf", "--health-port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        client = subprocess.run(
            [sys.executable, "client.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        output = (tmp_path / "server.log").read_text(errors="replace")
        assert client.returncode == 0, f"{client.stdout}\n{client.stderr}\n--- server\n{output[-4000:]}"
        result = json.loads(client.stdout.strip().splitlines()[-1])
        assert result["dead_letters"] == 0
        for handler in ("OrderFulfillmentPM", "BookCatalogProjector", "OrderCommandHandler", "InventoryCommandHandler"):
            assert handler in result["handlers"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            health = json.loads(response.read())
        assert response.status == 200 and health["status"] == "ok"
        assert "secret" not in json.dumps(health) and "postgresql://" not in json.dumps(health)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            code = server.wait()
        log.close()
        if not postgres_server.running:
            postgres_server.start()
        postgres_server.drop_database(database)
    assert code == 0, (tmp_path / "server.log").read_text(errors="replace")[-4000:]
