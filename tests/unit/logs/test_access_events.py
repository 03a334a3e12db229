"""Protean's wide access events: one ``archipel.access`` record per handler invocation
(command, event, projector, query), slow handlers on ``archipel.perf``, the context
bound with ``bind_event_context``, and nothing at all while the logger is below INFO."""

from __future__ import annotations

import logging
import time

import pytest
import structlog

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProjection,
    BaseQuery,
    handle,
)
from archipel.fields import Identifier, Integer, String
from archipel.utils import access_log
from archipel.utils.logging import add_context, bind_event_context, current_context
from tests.unit.logs.conftest import json_lines

FIELDS = {
    "kind", "message_type", "message_id", "aggregate", "aggregate_id", "events_raised", "events_raised_count",
    "repo_operations", "uow_outcome", "handler", "duration_ms", "status", "error_type", "error_message",
    "correlation_id", "causation_id",
}


def shop(make_domain, **logging_table):
    domain = make_domain(logging=logging_table) if logging_table else make_domain()
    seen: dict[str, object] = {}

    @domain.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)
        total = Integer(default=0)

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        order_id = Identifier()
        total = Integer(default=0)
        pause = Integer(default=0)  # milliseconds the handler sleeps (a slow handler)
        fail = String(default="", max_length=1000)

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            bind_event_context(order_total=command.total, kind="mine", levelname="mine")
            seen["context"] = current_context()
            if command.pause:
                time.sleep(command.pause / 1000)
            if command.fail:
                raise ValueError(command.fail)
            order = Order(order_id=command.order_id, total=command.total)
            order.raise_(Placed(order_id=command.order_id))
            domain.repository_for(Order).add(order)
            return command.order_id

    @domain.event_handler(part_of=Order)
    class Mailer:
        @handle(Placed)
        def on_placed(self, event):
            bind_event_context(mailed=True)

    @domain.projection
    class Summary(BaseProjection):
        order_id = Identifier(identifier=True)

    @domain.projector(projector_for=Summary, aggregates=[Order])
    class Summaries:
        @handle(Placed)
        def on_placed(self, event):
            domain.repository_for(Summary).add(Summary(order_id=event.order_id))

    @domain.query(part_of=Summary)
    class Find(BaseQuery):
        order_id = Identifier()

    @domain.query_handler(part_of=Summary)
    class Finder:
        @handle(Find)
        def find(self, query):
            return domain.repository_for(Summary).get(query.order_id).order_id

    domain.init(traverse=False)
    domain.Place, domain.Find = Place, Find
    return domain, seen


def access_records(caplog, name="archipel.access"):
    return [r for r in caplog.records if r.name == name]


def test_every_handler_kind_emits_one_wide_event_with_protean_fields(make_domain, caplog):
    domain, _ = shop(make_domain)
    with caplog.at_level(logging.INFO, logger="archipel.access"), domain.domain_context():
        assert domain.process(domain.Place(order_id="o-1", total=7)) == "o-1"
        assert domain.dispatch(domain.Find(order_id="o-1")) == "o-1"
    records = access_records(caplog)
    assert [(r.kind, r.handler) for r in records] == [
        ("command", "Orders.place"),
        ("event", "Mailer.on_placed"),
        ("projector", "Summaries.on_placed"),
        ("query", "Finder.find"),
    ]
    for record in records:
        assert record.getMessage() == "access.handler_completed" and record.levelno == logging.INFO
        assert FIELDS <= set(vars(record)) and record.status == "ok" and record.error_type is None
        assert isinstance(record.duration_ms, float) and record.duration_ms >= 0
    command, event, projector, query = records
    assert command.message_type == f"{domain.name}.Place.v1" and command.aggregate == "Order"
    assert command.aggregate_id == "o-1"  # from the command's stream
    assert command.events_raised == ["Placed"] and command.events_raised_count == 1
    assert command.repo_operations == {"loads": 0, "saves": 1} and command.uow_outcome == "committed"
    assert command.correlation_id == command.message_id and command.causation_id == ""
    assert event.causation_id == command.message_id and event.correlation_id == command.correlation_id
    assert event.aggregate_id == "o-1" and event.events_raised == [] and event.mailed is True
    assert projector.repo_operations == {"loads": 0, "saves": 1}
    assert query.uow_outcome == "no_uow" and query.kind == "query"


def test_bound_context_reaches_the_event_not_the_caller_and_framework_fields_win(make_domain, caplog):
    domain, seen = shop(make_domain)
    add_context(request="r-1")
    with caplog.at_level(logging.INFO, logger="archipel.access"), domain.domain_context():
        domain.process(domain.Place(order_id="o-2", total=12))
    command = access_records(caplog)[0]
    assert command.order_total == 12
    assert command.kind == "command" and command.levelname == "INFO"  # not the bound "mine"
    assert "request" not in seen["context"]  # each handler starts clean...
    assert current_context() == {"request": "r-1"}  # ...and the outer context comes back
    assert not hasattr(access_records(caplog)[1], "order_total")  # the next handler's own


def test_a_failing_handler_emits_handler_failed_at_error_and_its_exception_propagates(make_domain, caplog):
    domain, _ = shop(make_domain)
    with caplog.at_level(logging.INFO, logger="archipel.access"), domain.domain_context():
        with pytest.raises(ValueError, match="no stock"):
            domain.process(domain.Place(order_id="o-3", fail="no stock" * 60))
    (record,) = access_records(caplog)
    assert record.getMessage() == "access.handler_failed" and record.levelno == logging.ERROR
    assert record.status == "failed" and record.error_type == "ValueError"
    assert record.error_message == ("no stock" * 60)[:256] and record.uow_outcome == "rolled_back"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_a_slow_handler_is_a_warning_on_access_and_slow_handler_on_perf(make_domain, caplog):
    domain, _ = shop(make_domain, slow_handler_threshold_ms=1)
    with caplog.at_level(logging.INFO, logger="archipel.access"), domain.domain_context():
        domain.process(domain.Place(order_id="o-4", pause=5))  # sleeps at least 5 ms
    slow = access_records(caplog)[0]
    assert slow.levelno == logging.WARNING and slow.status == "slow" and slow.getMessage() == "access.handler_completed"
    (perf,) = access_records(caplog, "archipel.perf")
    assert perf.getMessage() == "slow_handler" and perf.levelno == logging.WARNING and perf.handler == "Orders.place"
    assert [r.status for r in access_records(caplog)[1:]] == ["ok", "ok"]


def test_threshold_zero_never_marks_a_handler_slow(make_domain, caplog):
    domain, _ = shop(make_domain, slow_handler_threshold_ms=0)
    with caplog.at_level(logging.INFO, logger="archipel.access"), domain.domain_context():
        domain.process(domain.Place(order_id="o-5", pause=3))
    assert access_records(caplog)[0].status == "ok" and not access_records(caplog, "archipel.perf")


def test_below_info_the_handlers_run_without_any_event(make_domain, caplog, monkeypatch):
    domain, _ = shop(make_domain)
    monkeypatch.setattr(access_log, "_observe", None)  # the fast path never reaches it
    logging.getLogger("archipel.access").setLevel(logging.WARNING)
    with caplog.at_level(logging.DEBUG), domain.domain_context():
        assert domain.process(domain.Place(order_id="o-6", pause=2)) == "o-6"
        with pytest.raises(ValueError):
            domain.process(domain.Place(order_id="o-7", fail="x"))
    assert not access_records(caplog) and not access_records(caplog, "archipel.perf")


def test_an_emission_failure_never_breaks_the_handling(make_domain, caplog, monkeypatch):
    domain, _ = shop(make_domain)

    def broken(*args):
        raise RuntimeError("renderer down")

    monkeypatch.setattr(access_log, "_emit", broken)
    with caplog.at_level(logging.DEBUG), domain.domain_context():
        assert domain.process(domain.Place(order_id="o-8")) == "o-8"
        with pytest.raises(ValueError, match="kept"):  # the handler's own error, not the log's
            domain.process(domain.Place(order_id="o-9", fail="kept"))
    failures = [r for r in caplog.records if r.getMessage() == "access_log_emission_failed"]
    assert len(failures) == 4 and all(r.levelno == logging.DEBUG for r in failures)


def test_access_log_handler_is_protean_context_manager(caplog):
    class Handler:
        pass

    with caplog.at_level(logging.INFO, logger="archipel.access"):
        with access_log.access_log_handler("command", object(), Handler, "run"):
            bind_event_context(user="u-1")
    (record,) = access_records(caplog)
    assert record.handler == "Handler.run" and record.user == "u-1" and record.uow_outcome == "no_uow"
    assert structlog.contextvars.get_contextvars() == {}


def test_configured_logging_renders_the_event_as_json(make_domain, capsys):
    domain, _ = shop(make_domain)
    domain.configure_logging(format="json", level="INFO")
    with domain.domain_context():
        domain.process(domain.Place(order_id="o-10", total=3))
    events = [e for e in json_lines(capsys.readouterr().err) if e.get("logger") == "archipel.access"]
    assert [e["handler"] for e in events] == ["Orders.place", "Mailer.on_placed", "Summaries.on_placed"]
    assert events[0]["order_total"] == 3 and events[0]["level"] == "info"


def test_level_changes_arm_and_disarm_the_routes_at_once(make_domain, caplog):
    domain, _ = shop(make_domain)
    access = logging.getLogger("archipel.access")
    command_cls = domain.Place
    plain = domain.router.commands[command_cls][1]
    access.setLevel(logging.WARNING)
    assert domain.router.commands[command_cls][1] is plain.__dict__.get("_archipel_plain", plain)
    assert all(not hasattr(r.method, "_archipel_plain") for r in domain.router.routes)
    access.setLevel(logging.INFO)
    assert all(hasattr(r.method, "_archipel_plain") for r in domain.router.routes)
    assert hasattr(domain.router.commands[command_cls][1], "_archipel_plain")
    logging.disable(logging.INFO)  # logging's own switch is followed too
    try:
        assert not hasattr(domain.router.commands[command_cls][1], "_archipel_plain")
    finally:
        logging.disable(logging.NOTSET)
    assert hasattr(domain.router.commands[command_cls][1], "_archipel_plain")
    access.setLevel(logging.NOTSET)


def test_a_users_decorated_handler_keeps_its_decorator(make_domain, caplog):
    import functools

    from archipel import BaseAggregate, BaseCommand

    domain = make_domain()
    calls: list[str] = []

    def traced(fn):
        @functools.wraps(fn)
        def wrapper(self, command):
            calls.append("decorator")
            return fn(self, command)

        return wrapper

    @domain.aggregate
    class Thing(BaseAggregate):
        name = String()

    @domain.command(part_of=Thing)
    class Make(BaseCommand):
        name = String()

    @domain.command_handler(part_of=Thing)
    class Things:
        @handle(Make)
        @traced
        def make(self, command):
            return command.name

    domain.init(traverse=False)
    for level in (logging.INFO, logging.WARNING, logging.INFO):
        with caplog.at_level(level, logger="archipel.access"), domain.domain_context():
            assert domain.process(Make(name="x")) == "x"
    assert calls == ["decorator"] * 3
    assert [r.handler for r in access_records(caplog)] == ["Things.make", "Things.make"]


def test_security_and_snapshot_helpers_are_protean_wide_events(make_domain, caplog):
    from archipel.integrations.logging import (
        SECURITY_EVENT_INVARIANT_FAILED,
        SNAPSHOT_EVENT_DISCARDED,
        log_security_event,
        log_snapshot_event,
    )

    with caplog.at_level(logging.WARNING):
        log_security_event(SECURITY_EVENT_INVARIANT_FAILED, aggregate="Order", invariant="positive", msg="x")
        log_snapshot_event(SNAPSHOT_EVENT_DISCARDED, aggregate="Order", correlation_id="c-1")
    security, snapshot = [r for r in caplog.records if r.name in ("archipel.security", "archipel.snapshot")]
    assert (security.name, security.getMessage(), security.levelno) == ("archipel.security", "invariant_failed", 30)
    assert security.invariant == "positive" and security.correlation_id == "" and security.msg == "invariant_failed"
    assert (snapshot.getMessage(), snapshot.correlation_id, snapshot.aggregate) == ("snapshot_discarded", "c-1", "Order")


def test_the_servers_lines_show_the_event_on_one_line_without_traceback(make_domain):
    import io
    import json

    from archipel.utils import logs

    domain, _ = shop(make_domain)
    stream = io.StringIO()
    logs.configure_logging("json", "INFO", stream)
    with domain.domain_context(), pytest.raises(ValueError):
        domain.process(domain.Place(order_id="o-11", fail="out of stock"))
    (line,) = [json.loads(t) for t in stream.getvalue().splitlines() if '"archipel.access"' in t]
    assert line["message"] == "access.handler_failed" and line["status"] == "failed" and "exc" not in line
    assert (line["handler"], line["error_type"], line["error_message"]) == ("Orders.place", "ValueError", "out of stock")

