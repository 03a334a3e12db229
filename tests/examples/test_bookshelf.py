"""The Bookshelf story (``python -m examples.bookshelf``) runs end to end and says what happened.

The story checks its own expectations and exits 1 when one fails, so exit
status 0 already means every chapter behaved; these tests also assert on
what it prints that a reader relies on. The SQLite runs use a temporary
directory as working directory, so the database file is thrown away.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from examples.bookshelf import storage

from tests.examples._bookshelf import ROOT, story_command, story_env

TIMEOUT = 120


def run_story(cwd: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        story_command(*args),
        cwd=cwd,
        env=story_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def assert_succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def assert_tells_the_whole_story(out: str) -> None:
    # the chapters, in order
    chapters = re.findall(r"^\d+\. (.+)$", out, flags=re.MULTILINE)
    assert chapters == [
        "Opening the shop",
        "Stocking the shelves",
        "The storefront",
        "Ada's order: the happy path",
        "Bob wants more than we have",
        "Carol's parcel cannot be delivered",
        "Two clerks, one price",
        "Following Ada's order",
        "The back office",
    ]
    # what domain.init() discovered
    assert "Book, Inventory, Order, Shipment" in out
    assert "OrderFulfillmentPM" in out and "BookSupplyWebhookSubscriber" in out
    # invariant with a clear message; the anti-corruption layer's translations
    assert "price: A book's price must be greater than zero, not $0.00" in out
    assert "became AddBook 'The Left Hand of Darkness' by Ursula K. Le Guin at $16.00" in out
    assert "became RestockInventory Dune +3 (source 'BookSupply')" in out
    assert "not our business: ignored, nothing changed" in out
    # happy path through the process manager
    assert "order SHIPPED, Parcelnet tracking number PN-" in out
    assert "Your books are on their way" in out
    assert "Bookshelf.OrderShippedIntegrationEvent.v1 on stream bookshelf::order-" in out
    assert '"isbn": "9780441013593"' in out
    # refused order, compensated order, concurrency conflict
    assert "ValidationError: items: Not enough copies of 'Emma': 2 in stock, 5 ordered" in out
    assert "nothing changed: order still PENDING, Emma still 2 in stock, 0 e-mails sent" in out
    assert "shipment FAILED: Parcelnet cannot deliver to 'Springfield, US'" in out
    assert "StockReleased" in out and "Your order was cancelled" in out
    assert "ExpectedVersionError" in out and "catalogue price now $13.99" in out
    # the causation tree ends with the integration event
    assert "ConfirmOrder conversation" in out
    assert "OrderShippedIntegrationEvent (integration event, published)" in out
    assert "The end. 4 books, 3 orders" in out


def test_story_runs_on_the_embedded_sqlite_database(tmp_path: Path) -> None:
    out = assert_succeeded(run_story(tmp_path))

    database = (tmp_path / ".archipel" / "bookshelf.db").resolve()
    assert database.is_file()
    assert f"Data: SQLite file {database}" in out
    assert_tells_the_whole_story(out)


def test_story_is_repeatable_and_quiet_prints_one_line(tmp_path: Path) -> None:
    assert_succeeded(run_story(tmp_path, "--quiet"))
    # the second run starts from the same file: truncating first gives the same story
    out = assert_succeeded(run_story(tmp_path, "--quiet"))
    database = (tmp_path / ".archipel" / "bookshelf.db").resolve()
    assert out.strip() == f"Bookshelf story completed. Data: SQLite file {database}"


def test_database_url_option_overrides_the_configuration(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "shop.db"
    out = assert_succeeded(run_story(tmp_path, "--quiet", "--database-url", f"sqlite:///{target}"))
    assert target.is_file()
    assert not (tmp_path / ".archipel").exists()
    assert str(target) in out


def test_a_broken_database_stops_the_story_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = run_story(tmp_path, "--database-url", "postgresql://bookshelf:s3cret@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "The story stopped" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr


@pytest.mark.postgres
def test_story_runs_on_postgresql_with_the_redis_broker(tmp_path: Path, postgres_db_url: str, redis_url: str) -> None:
    # BookSupply's webhooks wait on Redis; the story consumes them with one engine pass each
    env = {"DATABASE_URL": postgres_db_url, "BOOKSHELF_BROKER_PROVIDER": "redis", "REDIS_URL": redis_url}
    out = assert_succeeded(run_story(tmp_path, **env))
    assert "Data: PostgreSQL postgresql" in out
    assert_tells_the_whole_story(out)


@pytest.mark.postgres
def test_story_runs_on_postgresql(tmp_path: Path, postgres_db_url: str) -> None:
    # DATABASE_URL is how domain.toml is pointed at PostgreSQL
    out = assert_succeeded(run_story(tmp_path, DATABASE_URL=postgres_db_url))
    assert "Data: PostgreSQL postgresql" in out
    assert_tells_the_whole_story(out)
    assert not (tmp_path / ".archipel").exists()
    # and again: truncation makes the second run tell the same story
    assert_succeeded(run_story(tmp_path, "--quiet", DATABASE_URL=postgres_db_url))


def test_where_the_data_lives_is_printed_without_passwords() -> None:
    assert storage.describe("postgresql://shop:hunter2@db.internal:5432/shop") == (
        "PostgreSQL postgresql://shop:***@db.internal:5432/shop"
    )
    assert storage.describe("sqlite:////var/lib/shop.db") == "SQLite file /var/lib/shop.db"
    relative = storage.describe("sqlite:///.archipel/bookshelf.db")
    assert relative == f"SQLite file {Path('.archipel/bookshelf.db').resolve()}"
    assert storage.describe(None).startswith("in memory")


def test_the_default_configuration_is_embedded_sqlite_and_follows_database_url() -> None:
    from archipel.domain.config import load_config

    toml = ROOT / "examples" / "bookshelf" / "domain.toml"
    default = load_config(toml, environ={})
    assert default["databases"]["default"] == {
        "provider": "sql",
        "database_uri": "sqlite:///.archipel/bookshelf.db",
    }
    assert default["event_store"]["database_uri"] == "sqlite:///.archipel/bookshelf.db"
    assert default["brokers"]["default"]["provider"] == "inline"
    assert default["command_processing"] == default["event_processing"] == "sync"

    url = "postgresql://shop:pw@db/shop"
    on_postgres = load_config(toml, environ={"DATABASE_URL": url})
    assert on_postgres["databases"]["default"]["database_uri"] == url
    assert on_postgres["event_store"]["database_uri"] == url

    # ARCHIPEL_ENV=async: the same bookstore for `archipel server`
    asynchronous = load_config(toml, environ={"ARCHIPEL_ENV": "async"})
    assert asynchronous["command_processing"] == asynchronous["event_processing"] == "async"
    assert asynchronous["enable_outbox"] is True
    # the server, the API and the CLI are separate processes: a broker they all reach
    assert asynchronous["brokers"]["default"]["provider"] == "database"
    assert "async" not in default and default["enable_outbox"] is False


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*story_command()[:1], "-m", "archipel", *args, "--domain", "examples.bookshelf"],
        cwd=cwd, env=story_env(ARCHIPEL_ENV="async", COLUMNS="200", NO_COLOR="1"),
        capture_output=True, text=True, timeout=TIMEOUT,
    )


def _webhook(cwd: Path, *payloads: dict) -> None:
    """What the API's webhook endpoint does, in its own process: publish on the broker."""
    script = (
        "import json, sys\n"
        "from examples.bookshelf import domain\n"
        "from examples.bookshelf.integration.book_supply import STREAM\n"
        "domain.init()\n"
        "for payload in json.loads(sys.argv[1]):\n"
        "    domain.brokers['default'].publish(STREAM, payload)\n"
    )
    import json

    result = subprocess.run(
        [*story_command()[:1], "-c", script, json.dumps(payloads)],
        cwd=cwd, env=story_env(ARCHIPEL_ENV="async"), capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert_succeeded(result)


def _title(isbn: str, cents: int) -> dict:
    return {"event": "title.listed", "sku": {"ean13": isbn}, "title": "T", "list_price": {"cents": cents},
            "contributors": [{"name": "A", "role": "author"}]}


def test_the_async_setup_across_processes_loses_no_message(tmp_path: Path) -> None:
    """ARCHIPEL_ENV=async: API, server and operator are three processes sharing the broker."""
    assert_succeeded(_cli(tmp_path, "database", "setup"))
    # a free book breaks a rule: its AddBook is dead-lettered at once (a business error)
    _webhook(tmp_path, _title("9780441013593", 1899), _title("9780000000002", 0))
    assert_succeeded(_cli(tmp_path, "server", "--test-mode"))
    listed = assert_succeeded(_cli(tmp_path, "dlq", "list"))
    assert "1 dead letter" in listed and "ValidationError" in listed
    first = re.search(r"^ ?([0-9a-f]{8}) ", listed, flags=re.MULTILINE)
    assert first is not None, listed

    replayed = assert_succeeded(_cli(tmp_path, "dlq", "replay", "--all"))
    assert "replayed 1 dead letter" in replayed  # the database broker is shared: no refusal
    assert "No dead letters" in assert_succeeded(_cli(tmp_path, "dlq", "list"))  # it is on the broker
    assert_succeeded(_cli(tmp_path, "server", "--test-mode"))
    again = assert_succeeded(_cli(tmp_path, "dlq", "list"))
    assert "1 dead letter" in again and first.group(1) not in again  # failed again: a new letter
    assert "purged 1 dead letter" in assert_succeeded(_cli(tmp_path, "dlq", "purge", "--all", "--yes"))
    catalog = assert_succeeded(_cli(tmp_path, "events", "list", "--category", "bookshelf::book"))
    assert "BookAdded" in catalog
