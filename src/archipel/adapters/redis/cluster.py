"""Redis Cluster support of the Redis broker: hash-tagged key names and reads that span shards.

**Key names.** On a cluster every key lives in one of 16384 slots, and a
command with several keys must keep them in one slot. The engine names a
partition's streams ``<category>#<n>`` (production lane) and
``<category>:bulk#<n>`` (bulk lane); on a cluster they are stored under
keys sharing the hash tag ``{<category>#<n>}``::

    identity::customer#2        ->  {identity::customer#2}
    identity::customer:bulk#2   ->  {identity::customer#2}:bulk

so both lanes of one partition sit in one slot (one ``XREADGROUP`` reads
them), while the partitions of a category — and the categories — hash to
different slots and so spread over the shards. Order holds per stream
(one key, one shard) whatever the topology. Any other stream name is its
own key, unchanged; names of the tagged form itself (``{x#2}``) are
refused, since they would collide with the keys above. Standalone Redis
keeps the plain names (nothing to migrate).

**Reads across shards.** A consumer reads the streams of every partition
it owns at once. The broker groups them by slot: one ``XREADGROUP`` per
slot. When all come back empty and the caller asked to block,
:class:`BlockingFanOut` issues one blocking ``XREAD`` per slot in
parallel, each on its own connection; the first that returns ends the
others with ``CLIENT UNBLOCK ... ERROR`` and the slots are read again
without blocking, so a publish on any shard wakes the consumer at once —
push, not poll. The wait is an ``XREAD`` (entries newer than the last one
this consumer was given; ``$``, the stream's end, for a stream it has not
read yet or whose news went to another consumer), not a blocking ``XREADGROUP``: it delivers nothing, and
a master pausing writes — ``CLUSTER FAILOVER`` does — postpones write
commands, ``XREADGROUP`` among them, not reads. Redis 7.0–7.2 crash on
``CLIENT UNBLOCK`` (``TIMEOUT``) of a postponed command, and with ``ERROR``
they answer it and run it once the pause ends: a read whose entries
nobody receives. An ``XREAD`` is postponed only by ``CLIENT PAUSE ALL``;
then it runs (and answers) again later, harmless since it delivers
nothing, on a connection dropped at its ``UNBLOCKED`` error. Since the wait
starts after the last entry read, an entry published between the look and
the wait wakes it at once (for a stream waited on from ``$``: at the next
look, at most one blocking timeout later).

**Publishes.** The entries of one slot go in one script call (:data:`XADDS`),
the calls of different slots in one pipeline (:func:`publish_by_slot`): a
script runs whole, so a publish that fails partway leaves of each stream a
prefix of its entries, never a later entry without an earlier one, which
the relay's publishing again would put after it. ``WAIT`` counts the writes
of its own connection, so with ``replica_acks`` the calls are sent per
master, each master's followed by ``WAIT`` on the same connection.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from archipel.errors import BrokerUnavailable

__all__ = [
    "BlockingFanOut",
    "XADDS",
    "by_slot",
    "check_replicated",
    "cluster_key",
    "publish_by_slot",
    "stream_of",
]

_PARTITIONED = re.compile(r"^(?P<base>.+?)(?P<bulk>:bulk)?#(?P<n>\d+)$", re.DOTALL)
_TAGGED = re.compile(r"^\{(?P<base>.+)#(?P<n>\d+)\}(?P<bulk>:bulk)?$", re.DOTALL)


def cluster_key(stream: str) -> str:
    """The cluster key of ``stream``: partition streams get their partition's hash tag.

    Raises:
        ValueError: ``stream`` has the form of a tagged key itself.
    """
    found = _PARTITIONED.match(stream)
    if found is not None:
        return f"{{{found['base']}#{found['n']}}}{found['bulk'] or ''}"
    if _TAGGED.match(stream):
        raise ValueError(
            f"stream name {stream!r} has the form the broker gives partition keys on Redis "
            "Cluster ({<category>#<n>}); rename the stream"
        )
    return stream


def stream_of(key: str) -> str:
    """The stream name stored under cluster ``key`` (inverse of :func:`cluster_key`)."""
    found = _TAGGED.match(key)
    if found is None:
        return key
    return f"{found['base']}{found['bulk'] or ''}#{found['n']}"


def by_slot(keys: Sequence[str]) -> list[list[str]]:
    """``keys`` grouped by cluster slot, in first-seen order (one multi-key command per group)."""
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(key_slot(key.encode()), []).append(key)
    return list(groups.values())


#: replies of a read sent to a node that no longer serves (or cannot yet serve) the slot
_TOPOLOGY_CHANGED = (
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
_TOPOLOGY_REPLIES = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "NOGROUP", "UNBLOCKED")

ReadOne = Callable[[redis.Redis, list[str]], Any]


class BlockingFanOut:
    """Blocking reads on several shards at once; the first reply wakes the others.

    Each read runs in a pool thread on a dedicated single-connection client
    to the node serving its slot (its ``CLIENT ID`` known), so that the
    caller can end the other reads with ``CLIENT UNBLOCK ... ERROR`` once
    one has returned. Clients are reused; a client whose read failed or was
    ended so is dropped (a read a pause postponed answers again later).
    """

    def __init__(self, max_threads: int = 1024) -> None:
        # threads are made on demand and reused: the bound only has to exceed the
        # slot groups all consumers of a process block on at once (subscriptions
        # x owned partitions), or some reads would wait for others to time out
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="archipel-redis-block")
        self._idle: dict[str, list[tuple[redis.Redis, int]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _take(self, node: Any) -> tuple[redis.Redis, int]:
        with self._lock:
            idle = self._idle.get(node.name)
            if idle:
                return idle.pop()
        source = node.redis_connection.connection_pool
        kwargs = {**source.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        kwargs.pop("redis_connect_func", None)
        pool = redis.ConnectionPool(connection_class=source.connection_class, **kwargs)
        client = redis.Redis(connection_pool=pool, single_connection_client=True)
        try:
            return client, int(client.client_id())
        except BaseException:
            client.close()
            pool.disconnect()
            raise

    def _give(self, node: Any, held: tuple[redis.Redis, int]) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(node.name, []).append(held)
                return
        _drop(held[0])

    def read(self, work: Sequence[tuple[Any, list[str]]], read_one: ReadOne) -> list[Any]:
        """Run ``read_one(client, keys)`` for every ``(node, keys)`` in parallel; return the replies.

        ``read_one`` must block (``XREADGROUP ... BLOCK``). Once a reply
        comes back non-empty, the reads still blocked are unblocked and their
        replies (empty, or entries that raced the unblock) are returned too.
        A failed read's error is raised after every read has ended: the
        caller cannot know whether that read delivered entries.
        """
        started: dict[Future[Any], tuple[Any, list[int]]] = {}
        for node, keys in work:
            client_id: list[int] = []
            started[self._pool.submit(self._run, node, keys, read_one, client_id)] = (node, client_id)
        pending = set(started)
        replies: list[Any] = []
        error: BaseException | None = None
        woken = False
        while pending:
            done, pending = wait(pending, timeout=None if not woken else 0.05, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    reply = future.result()
                except BaseException as exc:  # noqa: BLE001 - raised below, once all ended
                    error = error or exc
                    reply = None
                if reply:
                    replies.append(reply)
            if (replies or error is not None) and pending:
                woken = True
                for future in pending:
                    node, client_id = started[future]
                    if client_id:
                        self._unblock(node, client_id[0])
        if error is not None:
            raise error
        return replies

    def _run(self, node: Any, keys: list[str], read_one: ReadOne, client_id: list[int]) -> Any:
        held = self._take(node)
        client_id.append(held[1])
        try:
            reply = read_one(held[0], keys)
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith("UNBLOCKED"):
                # ended (CLIENT UNBLOCK, the node turning replica): a read a pause postponed
                # is run and answered again once the pause ends, so the connection goes
                _drop(held[0])
                return None
            self._give(node, held)
            if isinstance(exc, _TOPOLOGY_CHANGED) or str(exc).startswith(_TOPOLOGY_REPLIES):
                return None  # nothing delivered; the next non-blocking read follows the change
            raise
        except BaseException:
            _drop(held[0])
            raise
        self._give(node, held)
        return reply

    def _unblock(self, node: Any, client_id: int) -> None:
        try:
            held = self._take(node)
        except redis.exceptions.RedisError:
            return  # the node is gone: its blocked read fails on its own
        try:
            held[0].client_unblock(client_id, error=True)  # (TIMEOUT crashes Redis 7 on a paused read)
        except redis.exceptions.RedisError:
            _drop(held[0])
            return
        self._give(node, held)

    def close(self) -> None:
        """Stop the threads and close every idle connection."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for held in idle.values():
            for client, _ in held:
                _drop(client)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _drop(client: redis.Redis) -> None:
    try:
        client.close()
    finally:
        client.connection_pool.disconnect()


def check_replicated(acked: int, wanted: int, timeout_ms: int) -> None:
    """Raise unless ``WAIT`` reported at least ``wanted`` replicas.

    Raises:
        BrokerUnavailable: fewer replicas have the entries; publish them again.
    """
    if acked < wanted:
        raise BrokerUnavailable(
            f"only {acked} of {wanted} replicas acknowledged the published entries within "
            f"{timeout_ms} ms (replica_acks); they are published again"
        )


#: ``XADD`` of every ``KEYS[i]`` with field ``d`` = ``ARGV[i]``, in order; the ids in that
#: order. A script runs whole, never interleaved with other commands: a failing ``XADD`` ends it
#: with an error, the entries before it added and none after, so what a failed publish leaves
#: of each stream is a prefix of the stream's entries in the batch (see :func:`publish_by_slot`)
XADDS = (
    "local ids = {} "
    "for i = 1, #KEYS do ids[i] = redis.call('XADD', KEYS[i], '*', 'd', ARGV[i]) end "
    "return ids"
)


def _slot_groups(entries: Sequence[tuple[str, bytes | str]]) -> list[list[int]]:
    """The positions of ``entries``, grouped by slot, in order (first-seen slots first)."""
    groups: dict[int, list[int]] = {}
    for position, (key, _) in enumerate(entries):
        groups.setdefault(key_slot(key.encode()), []).append(position)
    return list(groups.values())


def _xadds(pipe: Any, entries: Sequence[tuple[str, bytes | str]], positions: list[int]) -> None:
    """Queue on ``pipe`` one :data:`XADDS` call adding the entries at ``positions`` (one slot)."""
    keys = [entries[p][0] for p in positions]
    pipe.execute_command("EVAL", XADDS, len(keys), *keys, *(entries[p][1] for p in positions))


def publish_by_slot(
    client: Any, entries: Sequence[tuple[str, bytes | str]], replicas: int = 0, timeout_ms: int = 0
) -> list[Any]:
    """``XADD`` every ``(key, data)`` with field ``d``, in order; return the ids.

    The entries of one slot (a partition's streams) go in one call of
    :data:`XADDS`, so that a publish that fails partway never leaves an
    entry of a stream without the entries before it: a node answering
    ``CLUSTERDOWN`` to one command of a pipeline while it fails over and
    accepting the next ones, or redis-py's cluster pipeline sending failed
    commands again one by one and going on past one that fails, would
    otherwise let later entries in while an earlier one is published only
    again, after them — and handled after them. The calls of different
    slots go in one cluster pipeline.

    With ``replicas`` the calls of each master go in one pipeline ended by
    ``WAIT replicas timeout_ms`` on the same connection (``WAIT`` counts the
    writes of its own connection). A master that no longer serves a slot (a
    failover) makes the client learn the topology again before the error is
    raised: the caller publishes again.

    Raises:
        BrokerUnavailable: fewer than ``replicas`` replicas acknowledged.
    """
    groups = _slot_groups(entries)
    ids: list[Any] = [None] * len(entries)
    if not replicas:
        pipe = client.pipeline(transaction=False)
        for positions in groups:
            _xadds(pipe, entries, positions)
        for positions, added in zip(groups, pipe.execute(), strict=True):
            for position, entry_id in zip(positions, added, strict=True):
                ids[position] = entry_id
        return ids
    by_node: dict[str, tuple[Any, list[list[int]]]] = {}
    for positions in groups:
        node = client.get_node_from_key(entries[positions[0]][0])
        by_node.setdefault(node.name, (node, []))[1].append(positions)
    for node, node_groups in by_node.values():
        pipe = node.redis_connection.pipeline(transaction=False)
        for positions in node_groups:
            _xadds(pipe, entries, positions)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        try:
            replies = pipe.execute()
        except (redis.exceptions.ResponseError, redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError):
            _relearn(client)
            raise
        check_replicated(int(replies.pop()), replicas, timeout_ms)
        for positions, added in zip(node_groups, replies, strict=True):
            for position, entry_id in zip(positions, added, strict=True):
                ids[position] = entry_id
    return ids


def _relearn(client: Any) -> None:
    """Have the cluster client read the topology again (best effort: the cluster may be failing over)."""
    try:
        client.nodes_manager.initialize()
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
        pass
