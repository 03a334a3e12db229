"""Event versions and upcaster chains: declaration, init-time checks, loads that fail loudly."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from archipel import (
    BaseAggregate,
    BaseEvent,
    BaseEventHandler,
    BaseUpcaster,
    Domain,
    apply,
    handle,
)
from archipel.core.message import new_message_id, utcnow
from archipel.errors import ConfigurationError, DeserializationError
from archipel.fields import Identifier, Integer
from archipel.handling.decoding import decode_stored


def _domain(version: Any = 3, option: Any = None) -> tuple[Domain, Any, Any]:
    domain = Domain(name=f"Up{uuid.uuid4().hex[:6]}", config={})

    @domain.aggregate(is_event_sourced=True)
    class Counter(BaseAggregate):
        total = Integer(default=0)

        @apply
        def added(self, event: Added) -> None:
            self.total += event.amount

    namespace: dict[str, Any] = {"amount": Integer(), "counter_id": Identifier()}
    if version is not None:
        namespace["__version__"] = version
    added_cls = type("Added", (BaseEvent,), namespace)
    options = {"part_of": Counter}
    if option is not None:
        options["version"] = option
    Added = domain.event(**options)(added_cls)
    return domain, Counter, Added


def _upcaster(
    domain: Domain, start: int, end: int, event_type: Any = None, change: Any = None, name: str = ""
) -> type:
    def upcast(self: Any, data: dict[str, Any]) -> dict[str, Any]:
        return change(data) if change else data

    cls = type(name or f"Up{start}to{end}", (BaseUpcaster,), {"upcast": upcast})
    return domain.upcaster(  # type: ignore[no-any-return]
        event_type=event_type or f"{domain.type_prefix}.Added", from_version=start, to_version=end
    )(cls)


def _stored(domain: Domain, version: int, data: dict[str, Any], stream: str, position: int) -> dict[str, Any]:
    return {
        "metadata": {
            "id": new_message_id(),
            "type": f"{domain.type_prefix}.Added.v{version}",
            "kind": "EVENT",
            "stream": stream,
            "time": utcnow().isoformat(),
            "version": version,
            "position": position,
        },
        "data": data,
    }


def test_dunder_version_sets_the_type_string() -> None:
    domain, _, Added = _domain(version=3)
    domain.init(traverse=False)
    assert Added._meta.type_string == f"{domain.type_prefix}.Added.v3"
    assert Added.__version__ == 3
    assert Added.__type__ == Added._meta.type_string  # Protean's name, as its tests read it
    domain2, _, Added2 = _domain(version=None, option=2)
    assert Added2._meta.type_string.endswith(".Added.v2") and Added2.__version__ == 2
    assert Added2.__type__ == Added2._meta.type_string


@pytest.mark.parametrize(("version", "option", "match"), [(2, 3, "keep one"), ("2", None, "not a version"), (0, None, "not a version")])
def test_bad_or_conflicting_versions_are_configuration_errors(version: Any, option: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        _domain(version=version, option=option)


def test_a_chain_is_followed_from_any_old_version() -> None:
    domain, Counter, Added = _domain(version=3)
    _upcaster(domain, 1, 2, change=lambda d: {"amount": d["cents"] // 100})
    _upcaster(domain, 2, 3, event_type=Added, change=lambda d: {**d, "amount": d["amount"] * 10})
    domain.init(traverse=False)
    event = decode_stored(domain, _stored(domain, 1, {"cents": 500}, "s-1", 0))
    assert type(event) is Added and event.amount == 50 and event._metadata.version == 3
    assert decode_stored(domain, _stored(domain, 2, {"amount": 5}, "s-1", 0)).amount == 50


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        ([(1, 2)], "do not reach the registered v3: v1 -> v2 stops"),  # gap 2 -> 3
        ([(2, 1)], "must raise the version"),  # going back: a cycle
        ([(2, 3), (2, 3)], "both convert"),
        ([(1, 3), (0, 1)], "whole number >= 1"),
    ],
)
def test_init_rejects_gaps_cycles_and_duplicates(steps: list[tuple[int, int]], match: str) -> None:
    domain, _, _ = _domain(version=3)
    for i, (start, end) in enumerate(steps):
        _upcaster(domain, start, end, name=f"U{i}")
    with pytest.raises(ConfigurationError, match=match):
        domain.init(traverse=False)


def test_init_rejects_an_upcaster_of_an_unknown_event() -> None:
    domain, _, _ = _domain(version=2)
    _upcaster(domain, 1, 2, event_type="Nope.Missing")
    with pytest.raises(ConfigurationError, match="no event 'Nope.Missing'"):
        domain.init(traverse=False)


def test_loading_an_aggregate_with_an_undecodable_event_fails_loudly() -> None:
    domain, Counter, _ = _domain(version=2)  # no upcaster from v1
    domain.init(traverse=False)
    with domain.domain_context():
        identity = str(uuid.uuid4())
        stream = f"{Counter._meta.stream_category}-{identity}"

        class Raw:
            def __init__(self, stored: dict[str, Any]) -> None:
                from archipel.core.message import Metadata

                self._metadata = Metadata.from_dict(stored["metadata"])
                self._data = stored["data"]

            def to_dict(self) -> dict[str, Any]:
                return self._data

        domain.event_store.append([Raw(_stored(domain, 1, {"amount": 1}, stream, 0))])
        with pytest.raises(DeserializationError, match="no upcaster from .*v1"):
            domain.repository_for(Counter).get(identity)


def test_sync_dispatch_upcasts_another_domains_older_event() -> None:
    producer, Counter, Added = _domain(version=1)
    consumer = Domain(name=f"Cons{uuid.uuid4().hex[:6]}", config={})
    seen: list[int] = []

    class AddedV2(BaseEvent):
        counter_id = Identifier()
        amount = Integer()

    consumer.register_external_event(AddedV2, f"{producer.type_prefix}.Added.v2")

    @consumer.upcaster(event_type=f"{producer.type_prefix}.Added", from_version=1, to_version=2)
    class Doubling(BaseUpcaster):
        def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "amount": data["amount"] * 2}

    @consumer.event_handler(stream_category=Counter._meta.stream_category or f"{producer.snake_name}::counter")
    class Listener(BaseEventHandler):
        @handle(AddedV2)
        def on(self, event: AddedV2) -> None:
            seen.append(event.amount)

    producer.init(traverse=False)
    consumer.init(traverse=False)
    try:
        with producer.domain_context():
            counter = Counter()
            counter.raise_(Added(counter_id=counter.id, amount=4))
            producer.repository_for(Counter).add(counter)
        assert seen == [8]
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_check_reports_a_broken_upcaster_chain_without_raising() -> None:
    domain, _, _ = _domain(version=3)
    _upcaster(domain, 1, 2)  # gap: nothing converts v2 to the registered v3
    report = domain.check(traverse=False)
    assert report["status"] == "fail"
    [error] = report["errors"]
    assert error["element"] == "upcasters" and "do not reach the registered v3" in error["message"]
    assert not domain.initialized
