"""Names a Protean program imports from Protean's module paths, run against Protean 0.18.

Each test runs the same code with ``protean`` and with ``archipel`` (the porting rule:
rename the package) and compares what it gives: subscription profiles on handlers,
``MessageEnvelope``, ``has_domain_context``, ``utils.telemetry``'s span helpers,
``utcnow_func``, and the names re-exported at Protean's element paths.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import textwrap
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

FRAMEWORKS = ("protean", "archipel")


def load(pkg: str, source: str, name: str) -> types.ModuleType:
    """``source`` (with ``PKG`` for the package) imported as a module under ``pkg``."""
    module = types.ModuleType(f"{name}_{pkg}")
    sys.modules[module.__name__] = module
    try:
        exec(compile(textwrap.dedent(source).replace("PKG", pkg), module.__name__, "exec"), module.__dict__)  # noqa: S102
    finally:
        del sys.modules[module.__name__]
    return module


PROFILES = """
from PKG import Domain
from PKG.core.aggregate import BaseAggregate
from PKG.core.event import BaseEvent
from PKG.core.event_handler import BaseEventHandler
from PKG.fields import String
from PKG.server.subscription.profiles import SubscriptionProfile, SubscriptionType
from PKG.utils.mixins import handle

domain = Domain(name="Orders")

@domain.aggregate
class Order(BaseAggregate):
    status = String(default="PLACED")

@domain.event(part_of=Order)
class Placed(BaseEvent):
    status = String()

@domain.event_handler(part_of=Order, subscription_profile=SubscriptionProfile.FAST,
                      subscription_type=SubscriptionType.STREAM)
class Notifications(BaseEventHandler):
    @handle(Placed)
    def placed(self, event):
        pass

domain.init(traverse=False)
"""


def _value(option: Any) -> Any:
    return getattr(option, "value", option)


def test_handlers_take_the_subscription_enums():
    got = {}
    for pkg in FRAMEWORKS:
        program = load(pkg, PROFILES, "profiles")
        meta = program.Notifications.meta_
        got[pkg] = (
            [(m.name, m.value) for m in program.SubscriptionProfile],
            [(m.name, m.value) for m in program.SubscriptionType],
            _value(meta.subscription_profile),
            _value(meta.subscription_type),
        )
    assert got["archipel"] == got["protean"]
    assert got["archipel"][2:] == ("fast", "stream")


def test_a_profile_that_is_no_member_is_refused_at_registration():
    from archipel.errors import ConfigurationError

    broken = PROFILES.replace("SubscriptionProfile.FAST", '"turbo"')
    with pytest.raises(ConfigurationError, match="turbo"):
        load("archipel", broken, "profiles")
    # Protean refuses it later, when its engine resolves the subscription's settings
    assert load("protean", broken, "profiles").Notifications.meta_.subscription_profile == "turbo"


PAYLOADS = st.dictionaries(
    st.text(max_size=8),
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.lists(st.integers(), max_size=3),
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(PAYLOADS)
def test_message_envelope_checksums_as_protean(payload):
    envelopes = [importlib.import_module(f"{pkg}.utils.eventing").MessageEnvelope for pkg in FRAMEWORKS]
    theirs, ours = (cls.build(payload) for cls in envelopes)
    assert (ours.specversion, ours.checksum) == (theirs.specversion, theirs.checksum)
    assert ours.checksum == envelopes[1].compute_checksum(payload) == envelopes[0].compute_checksum(payload)


def test_has_domain_context_at_proteans_path():
    for pkg in FRAMEWORKS:
        has_domain_context = importlib.import_module(f"{pkg}.domain.context").has_domain_context
        domain = importlib.import_module(pkg).Domain(name="Ctx")
        assert has_domain_context() is False
        with domain.domain_context():
            assert has_domain_context() is True
        assert has_domain_context() is False


MESSAGES = st.text(max_size=30)
ERRORS = st.recursive(
    st.builds(ValueError, MESSAGES) | st.builds(KeyError, MESSAGES) | st.builds(RuntimeError, MESSAGES),
    lambda inner: st.builds(lambda m, xs: ExceptionGroup(m, xs), MESSAGES, st.lists(inner, min_size=1, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None)
@given(ERRORS)
def test_describe_exception_as_protean(error):
    theirs = importlib.import_module("protean.utils.telemetry").describe_exception(error)
    assert importlib.import_module("archipel.utils.telemetry").describe_exception(error) == theirs


def test_describe_exception_of_a_huge_or_deep_group_as_protean():
    huge = ExceptionGroup("many", [ValueError("x" * 300) for _ in range(20)])
    deep: BaseException = ValueError("core")
    for level in range(8):
        deep = ExceptionGroup(f"level {level}", [deep])

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    for error in (huge, deep, Unprintable()):
        ours = importlib.import_module("archipel.utils.telemetry").describe_exception(error)
        assert ours == importlib.import_module("protean.utils.telemetry").describe_exception(error)


def test_set_span_error_records_as_protean():
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    recorded = {}
    for pkg in FRAMEWORKS:
        exporter = InMemorySpanExporter()
        provider = sdk.TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        telemetry = importlib.import_module(f"{pkg}.utils.telemetry")
        with provider.get_tracer("test").start_as_current_span("cache.get") as span:
            telemetry.set_span_error(span, ExceptionGroup("two", [KeyError("sku-9"), ValueError("bad")]))
        (finished,) = exporter.get_finished_spans()
        recorded[pkg] = (
            finished.status.status_code.name,
            finished.status.description,
            [(e.name, e.attributes["exception.type"], e.attributes["exception.message"]) for e in finished.events],
        )
    assert recorded["archipel"] == recorded["protean"]
    assert recorded["archipel"][:2] == ("ERROR", "two: KeyError: 'sku-9'; ValueError: bad")


def test_get_tracer_without_telemetry_gives_spans_that_record_nothing():
    for pkg in FRAMEWORKS:
        domain = importlib.import_module(pkg).Domain(name="Quiet")
        with importlib.import_module(f"{pkg}.utils.telemetry").get_tracer(domain).start_as_current_span("x") as span:
            assert not span.is_recording()


def test_utcnow_func_is_the_time_now_in_utc():
    before = dt.datetime.now(dt.UTC)
    for pkg in FRAMEWORKS:
        with pytest.warns() if pkg == "protean" else _no_warning():  # Protean deprecates it
            now = importlib.import_module(f"{pkg}.utils").utcnow_func()
        assert now.tzinfo is not None and now.utcoffset() == dt.timedelta(0)
        assert before <= now <= dt.datetime.now(dt.UTC)


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize(
    ("module", "name", "home"),
    [
        ("core.aggregate", "apply", "apply"),
        ("core.aggregate", "atomic_change", "atomic_change"),
        ("core.entity", "invariant", "invariant"),
        ("fields.simple", "Custom", "fields.Custom"),
        ("fields.simple", "Status", "fields.Status"),
        ("ir", "diff_ir", "ir.diff.diff_ir"),
        ("ir", "IRBuilder", "ir.builder.IRBuilder"),
        ("integrations.fastapi.health", "create_health_router", "integrations.fastapi.create_health_router"),
        ("integrations.fastapi.middleware", "DomainContextMiddleware", "integrations.fastapi.DomainContextMiddleware"),
        ("integrations.fastapi.exception_handlers", "register_exception_handlers",
         "integrations.fastapi.register_exception_handlers"),
        ("integrations.fastapi.telemetry", "instrument_app", "integrations.fastapi.instrument_app"),
    ],
)
def test_proteans_paths_give_the_same_objects(module, name, home):
    found = {pkg: getattr(importlib.import_module(f"{pkg}.{module}"), name) for pkg in FRAMEWORKS}
    path, _, attr = f"archipel.{home}".rpartition(".")
    assert found["archipel"] is getattr(importlib.import_module(path), attr)
    if name == "invariant":  # used as @invariant.pre / @invariant.post
        assert all(callable(getattr(found[pkg], when)) for pkg in FRAMEWORKS for when in ("pre", "post"))
    else:
        assert callable(found["archipel"]) and callable(found["protean"])
