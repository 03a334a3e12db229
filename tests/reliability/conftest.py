"""Harness for the reliability tests: real worker processes, real PostgreSQL and Redis.

``cluster`` gives a :class:`Cluster`: a bank domain on a fresh PostgreSQL
database and Redis (the session's, flushed), the same configuration handed
to worker processes (``python -m tests.reliability.worker``) it starts,
kills, pauses and stops, and :meth:`Cluster.check` — the invariant checker
run after every scenario: nothing lost (every deposit reached the ledger
and the account), nothing applied twice, per-aggregate order kept, nothing
left in the outbox or the dead-letter queue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archipel import Domain
from archipel.engine.dlq import dead_letter_store
from tests.engine.bank import build_bank, check_ledgers, order_break

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """One ``tests.reliability.worker`` subprocess; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.worker"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait: the exit code (the test fails if it hangs)."""
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"worker {self.pid} did not stop within {timeout}s of SIGTERM:\n{self.output()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Cluster:
    """A bank domain, its configuration, and the worker processes serving it."""

    def __init__(self, config: dict[str, Any], logdir: Path) -> None:
        self.name = f"Rel{uuid.uuid4().hex[:8]}"
        self.config = config
        self.logdir = logdir
        self.bank: Domain = build_bank(self.name, config)
        self.bank.init(traverse=False)
        with self.bank.domain_context():
            self.bank.setup_database()
        self.workers: list[WorkerProcess] = []
        self.expected: dict[str, list[int]] = {}

    # -- processes --------------------------------------------------------------
    def start_worker(self, **env: str) -> WorkerProcess:
        environ = dict(os.environ)
        environ.update(
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            ARCHIPEL_TEST_CONFIG=json.dumps(self.config),
            ARCHIPEL_TEST_DOMAIN=self.name,
            **env,
        )
        worker = WorkerProcess(environ, self.logdir / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.bank.shutdown()

    # -- load -------------------------------------------------------------------
    def deposit(self, account: str, amount: int = 1, seq: int | None = None, **options: Any) -> int:
        """Submit one deposit (its seq is the next one of the account); return the seq."""
        seqs = self.expected.setdefault(account, [])
        seq = seq if seq is not None else len(seqs) + 1
        deposit = self.bank.elements["Deposit"]  # type: ignore[attr-defined]
        with self.bank.domain_context():
            self.bank.process(deposit(account_id=account, amount=amount, seq=seq), **options)
        seqs.append(seq)
        return seq

    def deposit_many(self, accounts: int, per_account: int, prefix: str = "acc") -> None:
        for _ in range(per_account):
            for n in range(accounts):
                self.deposit(f"{prefix}-{n}")

    # -- observing --------------------------------------------------------------
    def ledger_count(self) -> int:
        """Deposits that reached the ledger so far."""
        ledger_cls = self.bank.elements["Ledger"]  # type: ignore[attr-defined]
        with self.bank.domain_context():
            found = self.bank.query_for(ledger_cls).all()
        return sum(len(item.seqs) for item in found.items)

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {w.log_path.name}\n{w.output()[-2500:]}" for w in self.workers)
        pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")

    def total(self) -> int:
        return sum(len(v) for v in self.expected.values())

    def wait_until_complete(self, timeout: float = 60.0) -> None:
        total = self.total()
        try:
            self.wait_for(lambda: self.ledger_count() >= total, timeout, f"{total} deposits")
        except pytest.fail.Exception as exc:
            # say which deposits never arrived (and anything else already wrong)
            found = "\n".join(check_ledgers(self.bank, self.expected)[:12])
            pytest.fail(f"{found}\n{exc}", pytrace=False)

    def check(self) -> None:
        """The invariant checker: nothing lost, nothing twice, order kept, nothing stuck."""
        outbox = self.bank.providers.database("default").outbox()
        # rows published whose mark-sent was lost (a crash, an outage) are relayed again once
        # their lease expires: give that a moment, then nothing may be left
        deadline = time.monotonic() + 4 * float(self.config["server"].get("lease_seconds", 10.0))
        with self.bank.domain_context():
            while outbox.pending_count() and time.monotonic() < deadline:
                time.sleep(0.1)
        problems = check_ledgers(self.bank, self.expected)
        problems += self._stored_order(p.split(":")[0] for p in problems if "out of order" in p)
        account_cls = self.bank.elements["Account"]  # type: ignore[attr-defined]
        with self.bank.domain_context():
            repo = self.bank.repository_for(account_cls)
            for account, seqs in self.expected.items():
                found = repo.get_or_none(account)
                deposits = found.deposits if found is not None else 0
                if deposits != len(seqs):
                    problems.append(f"{account}: {deposits} commands applied, {len(seqs)} sent")
            letters = dead_letter_store(self.bank).list()
            if letters:
                problems.append(f"dead letters left: {[(x.subscription, x.error) for x in letters][:3]}")
            pending = self.bank.providers.database("default").outbox().pending_count()
            if pending:
                problems.append(f"{pending} outbox rows never relayed")
        if problems:
            logs = "\n".join(f"--- {w.log_path.name}\n{w.output()[-4000:]}" for w in self.workers)
            pytest.fail("\n".join(problems) + "\n" + logs, pytrace=False)


    def _stored_order(self, accounts: Any) -> list[str]:
        """Where a reordered ledger comes from: the order the command handler raised the events
        in (the event store's ``Deposited`` seqs) — out of order there means the commands were
        handled out of order; in order there means the projector applied events out of order."""
        found = []
        with self.bank.domain_context():
            for account in accounts:
                stored = self.bank.event_store.read_stream(f"{self.bank.snake_name}::account-{account}")
                seqs = [m["data"]["seq"] for m in stored if "seq" in m.get("data", {})]
                broken = order_break(seqs)
                found.append(f"{account}: events stored {'out of order ' + broken if broken else 'in order'}"
                             f" ({len(seqs)} Deposited)")
        return found


def base_config(database_url: str, redis_url: str, **server: Any) -> dict[str, Any]:
    stream = {"blocking_timeout_ms": 50, "max_retries": 2, "retry_delay_seconds": 0.05}
    for key in ("max_retries", "retry_delay_seconds", "blocking_timeout_ms"):
        if key in server:
            stream[key] = server.pop(key)
    return {
        "databases": {"default": {"provider": "postgresql", "database_uri": database_url}},
        "event_store": {"provider": "postgresql"},
        "brokers": {"default": {"provider": "redis", "URI": redis_url}},
        "command_processing": "async",
        "event_processing": "async",
        "message_processing": "async",
        "server": {"partitions": 4, "lease_seconds": 2.0, "messages_per_tick": 50, **server,
                   "stream_subscription": stream},
    }


@pytest.fixture
def make_cluster(
    postgres_server: Any, redis_flushed_url: str, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(redis_url=None, broker=None, **server_settings)``: a cluster on a fresh database.

    ``broker`` replaces ``[brokers.default]`` (Redis by default).
    """
    made: list[Cluster] = []
    databases: list[str] = []

    def factory(redis_url: str | None = None, broker: dict[str, Any] | None = None, **server: Any) -> Cluster:
        name = postgres_server.create_database(prefix="rel")
        databases.append(name)
        config = base_config(postgres_server.url(name), redis_url or redis_flushed_url, **server)
        if broker is not None:
            config["brokers"]["default"] = broker
        cluster = Cluster(config, tmp_path)
        made.append(cluster)
        return cluster

    yield factory
    for cluster in made:
        cluster.close()
    for name in databases:
        if not postgres_server.running:
            postgres_server.start()
        postgres_server.drop_database(name)
