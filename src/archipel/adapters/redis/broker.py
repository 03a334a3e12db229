"""Redis Streams broker (``provider = "redis"``, ``URI``/``url`` in ``[brokers.<name>]``).

Each payload is one stream entry with a single field ``d``: the payload as
JSON (msgspec). Entries written by other producers (field/value pairs) are
read back as a dict of text fields, so subscribers can consume foreign streams.

Consumer groups map one to one: ``XREADGROUP``/``XACK``, ``XAUTOCLAIM`` to
take over the pending entries of a dead consumer, ``XPENDING``/``XINFO`` for
status. Trimming (``XTRIM MINID``) cuts only below the oldest entry some group
still needs (its oldest pending entry, else the first entry after its
last-delivered id), so nothing unacknowledged is ever dropped.

Connection errors are retried by redis-py with exponential backoff and
jitter (a Redis restart of a few seconds is ridden out transparently); after
that they surface as :class:`~archipel.errors.BrokerUnavailable`, whose
message names the server without its password. The engine's loops catch it
and back off.

``XREADGROUP`` is the exception: it goes through a second client that never
retries. Redis may have delivered entries (and persisted the delivery) when
the connection drops before its reply arrives; a silent retry would read past
them, leaving them pending for a consumer that never saw them and still holds
its partition. The error reaches the consumer instead, which recovers them
with :meth:`RedisBroker.own_pending` before reading on.

**Redis Cluster** (``cluster = true``): the URL names any one node, the
client discovers the others and follows slot moves and failovers. A
partition's streams share a hash tag and partitions spread over the
shards; a read spanning several shards is one command per slot, and
blocks on all of them at once (:mod:`archipel.adapters.redis.cluster`).

**Replicated publishes** (``replica_acks = N``): Redis replicates
asynchronously, so a master that crashes right after an ``XADD`` can take
the entry with it when its replica is promoted — and the outbox has already
marked it sent. With ``replica_acks`` a publish also waits (``WAIT``, at
most ``replica_ack_timeout_ms``) until ``N`` replicas of every master
written to have the entries; if fewer do, it raises
:class:`~archipel.errors.BrokerUnavailable` and the relay publishes the
batch again later (consumers drop the copies).

Settings of ``[brokers.<name>]``: ``URI`` (or ``url``/``uri``), ``cluster``,
``retries``, ``connect_timeout``, ``socket_timeout``, ``max_connections``
(per node on a cluster), ``replica_acks`` (0), ``replica_ack_timeout_ms``
(2000). Any other key is a :class:`ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archipel.adapters.payload import check_payload
from archipel.adapters.redis.cluster import XADDS, check_replicated, publish_by_slot
from archipel.adapters.redis.connection import _FIELD, _encode, _text
from archipel.adapters.redis.housekeeping import RedisHousekeeping
from archipel.adapters.redis.reading import RedisGroupReader
from archipel.port.broker import PublishCallback

__all__ = ["RedisBroker"]

assert _FIELD == b"d"  # the field XADDS writes

class RedisBroker(RedisGroupReader, RedisHousekeeping):
    """A broker on Redis Streams; thread-safe (a connection pool per broker).

    Its parts: the connection and error translation
    (:mod:`~archipel.adapters.redis.connection`), consumer groups
    (:mod:`~archipel.adapters.redis.reading`), status and trimming
    (:mod:`~archipel.adapters.redis.housekeeping`); publishing is here.
    """

    #: entries are shared between processes: ``archipel server`` delivers them,
    #: never the publishing process
    delivers_inline = False
    #: every process with the URL reaches the same streams (``archipel dlq replay`` relies on it)
    shared_between_processes = True

    def on_publish(self, callback: PublishCallback | None) -> None:
        """Ignored: Redis entries are delivered by ``archipel server``, in any process."""

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        check_payload(payload)
        return self.publish_many([(stream, payload)])[0]

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        encoded = []
        for stream, payload in entries:
            if not isinstance(payload, dict):
                raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
            encoded.append((stream, _encode(payload)))
        return self.publish_encoded(encoded)

    def publish_encoded(self, entries: Sequence[tuple[str, bytes | str]]) -> list[str]:
        """Publish payloads already encoded as JSON (text or UTF-8 bytes, as
        :meth:`publish_many` would encode them: the outbox stores them so), in
        order; return the entry ids.

        On one Redis the entries go in one call of a script that adds them in
        order (one command and one reply for the batch, not one per entry:
        the Python side of a publish is most of the relay's CPU); on a cluster,
        one call per slot, in one pipeline
        (:func:`~archipel.adapters.redis.cluster.publish_by_slot`). A script
        runs whole: a publish that raises has added, of each stream, at most
        a prefix of its entries — never one without those before it, which
        publishing the batch again (the relay) would put after it. With
        ``replica_acks`` the publish waits for the replicas (``WAIT``) as
        :meth:`publish_many` does.
        """
        if not entries:
            return []

        def run() -> list[Any]:
            keyed = [(self._key(stream), data) for stream, data in entries]
            if self._fan_out is not None:  # a cluster: a script's keys must share a slot
                return publish_by_slot(self._client, keyed, self._replica_acks, self._ack_timeout_ms)
            script = self._xadd_script()
            keys = [key for key, _ in keyed]
            values = [data for _, data in keyed]
            if not self._replica_acks:
                return list(script(keys=keys, args=values))
            pipe = self._client.pipeline(transaction=False)
            script(keys=keys, args=values, client=pipe)
            pipe.execute_command("WAIT", self._replica_acks, self._ack_timeout_ms)
            ids, acked = pipe.execute()
            check_replicated(int(acked), self._replica_acks, self._ack_timeout_ms)
            return list(ids)

        return [_text(i) for i in self._call(f"XADD of {len(entries)} entries", run)]

    def _xadd_script(self) -> Any:
        """The script of :data:`~archipel.adapters.redis.cluster.XADDS` on the current client
        (made again with the client)."""
        script = self.__dict__.get("_xadds")
        if script is None or script.registered_client is not self._client:
            script = self.__dict__["_xadds"] = self._client.register_script(XADDS)
        return script
