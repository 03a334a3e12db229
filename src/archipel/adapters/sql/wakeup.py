"""Push, not poll: wake the outbox relay and database-broker consumers when there is work.

Two signals exist, ``outbox`` (a transaction committed outbox rows) and
``broker`` (the database broker stored new entries). Each has a process-wide
:class:`Doorbell`, rung right after such a commit in this process: a relay or
consumer thread of the same process wakes within microseconds.

Other processes learn of it through PostgreSQL ``LISTEN``/``NOTIFY``
(:class:`PgSignals`, one per engine). The committing process does not notify
inside its transaction — a notifying commit takes a database-wide lock until
its WAL flush, which would serialise every writer — but, after the commit,
writes ``pg_notify`` on a notifier connection without waiting for the reply
(the next sender reads it); a commit that finds that connection busy pokes
the notifier thread, which sends it next (such pokes coalesce). A
listener thread (started by the first waiter of the process) rings the
doorbells when notifications arrive — except the echoes of this engine's own
notifications (they carry its :attr:`PgSignals.token`), whose commits rang
them already: a woken consumer or relay looks once per commit, not twice.

A transaction that does not wait for its WAL flush (``synchronous_commit =
off``: the relay's direct move into the database broker) notifies inside
itself instead (:func:`notify_statement`, pipelined with its ``COMMIT``):
the database-wide notify lock is then held for no flush, and the signal
needs no notifier thread, no round trip and no transaction of its own —
other processes hear it at the commit.

A signal may say where the work is (:mod:`archipel.utils.doorbell`'s keys):
the broker streams a publish wrote, the ``shard`` values of the outbox rows
a commit wrote (each listening process maps them to its relays' relay
shards). The keys travel in the notification's payload (after the token, as
a JSON list; a payload without keys, or whose keys would not fit, rings
broad), and the listener rings them: a consumer wakes only for its
partitions' streams, a relay only for its shards, not every waiter of every
process for every commit (each woken waiter looked: a transaction).

Signals only shorten waits: waiters still look for work after a timeout, so
a lost notification (a listener reconnecting, a SQLite database shared by
several processes, which has no notifications) costs latency, never a
message. :func:`fallback_seconds` says how long that timeout may be.
"""

from __future__ import annotations

import json
import logging
import select
import threading
import time
import uuid
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.codec import encode
from archipel.utils.doorbell import BROKER, OUTBOX, Doorbell, bell, outbox_keys

if TYPE_CHECKING:
    from archipel.adapters.sql.engine import SqlEngine

__all__ = [
    "Doorbell",
    "PgSignals",
    "OUTBOX",
    "BROKER",
    "bell",
    "announce_outbox",
    "signals_for",
    "announce",
    "notify_statement",
    "fallback_seconds",
]

log = logging.getLogger("archipel.sql.wakeup")

#: PostgreSQL channel of each signal
CHANNELS = {OUTBOX: "archipel_outbox", BROKER: "archipel_broker"}
#: the longest payload sent with its keys (PostgreSQL refuses 8000 bytes and more): beyond, broad
MAX_PAYLOAD = 7900
#: the longest wait of a relay or consumer whose signals arrive by push
PUSHED_FALLBACK_SECONDS = 1.0
#: a notification: channel and payload (the sending engine's token) as parameters
NOTIFY_SQL = "SELECT pg_notify(%s, %s)"
#: the same, for libpq's own parameters (sent without waiting by a committing thread)
NOTIFY_PQ = b"SELECT pg_notify($1, $2)"
_CHANNEL_BYTES = {signal: channel.encode() for signal, channel in CHANNELS.items()}
#: ``psycopg.pq.ExecStatus.TUPLES_OK``, once psycopg is imported (by the first reply read)
_TUPLES_OK: Any = None


class PgSignals:
    """``NOTIFY`` after commits and ``LISTEN`` for other processes' (one per PostgreSQL engine)."""

    def __init__(self, engine: SqlEngine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        #: signals (and their keys; None: broad) for the notifier thread to send
        self._wanted: dict[str, set[str] | None] = {}
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._notifier: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._listen_conn: Any = None
        #: the notifier's connection (psycopg's), once connected; guarded by ``_send_lock``
        #: with ``_in_flight`` (a ``pg_notify`` written by a committing thread, its reply
        #: not read yet: the next committing thread or the notifier thread reads it)
        self._send_lock = threading.Lock()
        self._conn: Any = None
        self._in_flight = False
        #: the listener is connected and listening: waiters may rely on pushes
        self.listening = False
        #: the notifier's backend: its notifications echo back to our listener, and were rung
        #: here already (:func:`announce` rings before it notifies): skipped
        self._own_pid: int | None = None
        #: the payload of this engine's notifications (also those sent inside a transaction,
        #: from any backend: :func:`notify_statement`): their echoes are skipped too
        self.token = uuid.uuid4().hex
        self._token_bytes = self.token.encode()

    # -- sending ----------------------------------------------------------------------
    def payload(self, keys: Collection[str] | None = None) -> str:
        """The payload of this engine's notifications: its token, then ``keys`` as a JSON list
        (none, or too many to fit: a broad ring)."""
        return self.payload_bytes(keys).decode()

    def payload_bytes(self, keys: Collection[str] | None = None) -> bytes:
        """:meth:`payload`, UTF-8 encoded (as libpq sends it). The list is compact JSON
        written by msgspec (``codec.encode``: a C call, where ``json.dumps`` with separators
        builds a ``JSONEncoder`` per call, ~23 k instructions a commit)."""
        token = self._token_bytes
        if not keys:
            return token
        text = token + encode(sorted(keys))
        return text if len(text) <= MAX_PAYLOAD else token

    def notify(self, signal: str, keys: Collection[str] | None = None) -> None:
        """Have other processes' waiters of ``signal`` (of ``keys``; None: all) woken.

        The calling thread sends the ``pg_notify`` itself when the notifier's
        connection is free (written to the socket, not waited for: the next
        sender reads the reply), so the notification leaves at once, whatever
        the caller does next; else the notifier thread sends it (pokes
        meanwhile coalesce: their keys are joined, and one broad makes them broad)."""
        if self._send(signal, keys):
            return
        with self._lock:
            if keys is None:
                self._wanted[signal] = None
            elif signal not in self._wanted:
                self._wanted[signal] = set(keys)
            else:
                wanted = self._wanted[signal]
                if wanted is not None:
                    wanted.update(keys)
        self._poke.set()
        if self._notifier is None:
            self._start("_notifier", self._notify_loop, "notify")

    def _send(self, signal: str, keys: Collection[str] | None) -> bool:
        """Write a ``pg_notify`` on the notifier's connection if it is free; True when sent."""
        conn = self._conn
        if conn is None or not self._send_lock.acquire(blocking=False):
            return False
        try:
            if conn is not self._conn:
                return False
            pgconn = conn.pgconn
            if self._in_flight:  # the previous one's reply, if it has come: read it here
                pgconn.consume_input()  # (never blocks)
                if pgconn.is_busy():
                    return False
                self._results(pgconn)
                self._in_flight = False
            self._in_flight = True  # (also if the write fails: the notifier finds out)
            pgconn.send_query_params(NOTIFY_PQ, [_CHANNEL_BYTES[signal], self.payload_bytes(keys)])
            if pgconn.flush() != 0:
                self._poke.set()  # what a full socket left unsent, the notifier flushes
            return True
        except Exception as exc:  # the notifier reconnects and sends it
            log.debug("notify failed (%s); the notifier thread retries", exc)
            return False
        finally:
            self._send_lock.release()

    def _collect(self, conn: Any, deadline: float | None = None) -> None:
        """Finish the ``pg_notify`` written by :meth:`_send`: flush it, read its reply.

        It waits until stopped or, given a ``deadline`` (``time.monotonic()``),
        until then (what closing uses: a connection closed with a reply
        unread makes its reset fail)."""
        pgconn = conn.pgconn

        def waiting() -> bool:
            return not self._stop.is_set() if deadline is None else time.monotonic() < deadline

        while pgconn.flush() != 0 and waiting():
            select.select([], [pgconn.socket], [], 0.2)
        pgconn.consume_input()
        while pgconn.is_busy() and waiting():
            select.select([pgconn.socket], [], [], 0.2)
            pgconn.consume_input()
        if not pgconn.is_busy():
            self._results(pgconn)

    @staticmethod
    def _results(pgconn: Any) -> None:
        """Read the replies received (raise if a ``pg_notify`` failed)."""
        global _TUPLES_OK
        if _TUPLES_OK is None:
            from psycopg import pq  # (PostgreSQL only: the module loads without the driver)

            _TUPLES_OK = pq.ExecStatus.TUPLES_OK
        while (result := pgconn.get_result()) is not None:
            if result.status != _TUPLES_OK:
                raise RuntimeError(f"pg_notify failed: {result.error_message!r}")

    def _notify_loop(self) -> None:
        fairy = None
        signals: dict[str, set[str] | None] = {}
        while not self._stop.is_set():
            self._poke.wait()
            if self._stop.is_set():
                break
            self._poke.clear()
            try:
                with self._send_lock:
                    if fairy is None:
                        fairy = self._connect()
                        self._own_pid = fairy.driver_connection.info.backend_pid
                        self._conn, self._in_flight = fairy.driver_connection, False
                    if self._in_flight:
                        self._collect(self._conn)
                        self._in_flight = False
                    with self._lock:
                        signals, self._wanted = self._wanted, {}
                    for signal in sorted(signals):
                        payload = self.payload(signals[signal])
                        fairy.driver_connection.execute(NOTIFY_SQL, (CHANNELS[signal], payload))
                    signals = {}
            except Exception as exc:  # best effort: waiters poll after a timeout anyway
                log.debug("notify failed (%s); waiters fall back to polling", exc)
                with self._send_lock:
                    self._conn, self._in_flight = None, False
                fairy = self._close(fairy)
                self._own_pid = None
                self._stop.wait(0.5)
                with self._lock:  # (what this attempt took is lost: sent broad once reconnected)
                    self._wanted.update(dict.fromkeys(signals, None))
                signals = {}
                if self._wanted:
                    self._poke.set()  # sent once reconnected
        with self._send_lock:
            conn, in_flight = self._conn, self._in_flight
            self._conn, self._in_flight = None, False
            if conn is not None and in_flight:
                try:  # a committing thread's pg_notify, its reply unread: read it before closing
                    self._collect(conn, deadline=time.monotonic() + 1.0)
                except Exception as exc:
                    log.debug("the last notify's reply could not be read (%s)", exc)
        self._close(fairy)

    # -- receiving --------------------------------------------------------------------
    def listen(self) -> bool:
        """Start listening (once per engine); True while notifications are being received."""
        if self._listener is None:
            self._start("_listener", self._listen_loop, "listen")
        return self.listening

    def _listen_loop(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            fairy = None
            try:
                fairy = self._connect()
                conn = self._listen_conn = fairy.driver_connection
                for channel in CHANNELS.values():
                    conn.execute(f'LISTEN "{channel}"')  # fixed names, not user input
                self.listening = True
                delay = 0.2
                # anything committed while we were not listening: look once
                for signal in CHANNELS:
                    bell(signal).ring()
                by_channel = {channel: signal for signal, channel in CHANNELS.items()}
                token = self.token
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        heard = by_channel.get(note.channel)
                        if heard is None or note.pid == self._own_pid or note.payload.startswith(token):
                            continue
                        keys = payload_keys(note.payload)
                        if keys is not None and heard == OUTBOX:
                            keys = outbox_keys(keys)  # rows' shard values -> our relays' shards
                        bell(heard).ring(keys)
            except Exception as exc:
                if not self._stop.is_set():
                    log.debug("listen failed (%s); waiters poll until it is back", exc)
            finally:
                self.listening = False
                self._listen_conn = None
                self._close(fairy)
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)

    # -- plumbing ---------------------------------------------------------------------
    def _start(self, attribute: str, target: Any, name: str) -> None:
        with self._lock:
            if getattr(self, attribute) is not None or self._stop.is_set():
                return
            thread = threading.Thread(target=target, name=f"archipel-pg-{name}", daemon=True)
            setattr(self, attribute, thread)
            thread.start()

    def _connect(self) -> Any:
        """A connection of its own (SQLAlchemy's proxy; autocommit), outside the pool."""
        return self.engine.engine.raw_connection()

    @staticmethod
    def _close(fairy: Any) -> None:
        if fairy is not None:
            try:
                if getattr(fairy.driver_connection, "closed", False):
                    # lost (the server ended it, or restarted): dropped without the reset, a
                    # rollback that fails and that SQLAlchemy logs as an error with a traceback
                    fairy.invalidate()
                else:
                    fairy.close()
            except Exception:  # noqa: S110 - it is being dropped
                pass
        return None

    def close(self) -> None:
        """Stop both threads and close their connections."""
        self._stop.set()
        self._poke.set()
        for thread in (self._notifier, self._listener):
            if thread is not None and thread is not threading.current_thread():
                thread.join(2.0)


_SIGNALS: dict[int, PgSignals] = {}
_SIGNALS_LOCK = threading.Lock()


def signals_for(engine: SqlEngine) -> PgSignals | None:
    """The engine's :class:`PgSignals` (PostgreSQL), or None (SQLite has no notifications)."""
    if not engine.is_postgres:
        return None
    found = _SIGNALS.get(id(engine))
    if found is None:
        with _SIGNALS_LOCK:
            found = _SIGNALS.get(id(engine))
            if found is None:
                found = _SIGNALS[id(engine)] = PgSignals(engine)
    return found


def forget(engine: SqlEngine) -> None:
    """Stop and drop the engine's signals (called when the engine is disposed)."""
    with _SIGNALS_LOCK:
        found = _SIGNALS.pop(id(engine), None)
    if found is not None:
        found.close()


def payload_keys(payload: str) -> list[str] | None:
    """The keys of a notification's payload (see :meth:`PgSignals.payload`); None (broad) when
    it has none or they cannot be read (a payload of another version, a token alone)."""
    start = payload.find("[")
    if start < 0:
        return None
    try:
        keys = json.loads(payload[start:])
    except ValueError:
        return None
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        return None
    return keys


def announce(engine: SqlEngine, signal: str, keys: Iterable[str] | None = None) -> None:
    """``signal`` happened (after a commit), for ``keys`` (None: anywhere): ring this
    process's bell, notify the others."""
    found = None if keys is None else keys if isinstance(keys, Collection) else list(keys)
    bell(signal).ring(found)
    signals = signals_for(engine)
    if signals is not None:
        signals.notify(signal, found)


def announce_outbox(engine: SqlEngine, shards: Collection[int]) -> None:
    """Outbox rows of these ``shard`` values were committed: ring this process's relays of
    their relay shards, notify the other processes (which map them to their relays' shards)."""
    bell(OUTBOX).ring(outbox_keys(shards))
    signals = signals_for(engine)
    if signals is not None:
        signals.notify(OUTBOX, list(map(str, shards)))


def notify_statement(
    engine: SqlEngine, signal: str, keys: Collection[str] | None = None
) -> tuple[str, tuple[str, str]] | None:
    """The statement and parameters that notify other processes of ``signal`` from inside a
    transaction (sent at its commit; this engine's listener skips the echo), or None (SQLite).

    For transactions that commit without waiting for the WAL flush only: a notifying
    commit holds PostgreSQL's database-wide notify lock until it ends. The caller rings
    this process's bell itself after the commit (``bell(signal).ring(keys)``).
    """
    signals = signals_for(engine)
    if signals is None:
        return None
    return NOTIFY_SQL, (CHANNELS[signal], signals.payload(keys))


def fallback_seconds(engine: SqlEngine, poll_seconds: float) -> float:
    """How long a waiter on ``engine`` may sleep between looks for work.

    PostgreSQL with a live listener: :data:`PUSHED_FALLBACK_SECONDS` (pushes
    wake it sooner); otherwise ``poll_seconds`` (in-process rings still do).
    """
    signals = signals_for(engine)
    if signals is not None and signals.listen():
        return max(poll_seconds, PUSHED_FALLBACK_SECONDS)
    return poll_seconds
