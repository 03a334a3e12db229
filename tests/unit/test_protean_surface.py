"""The whole public surface of Protean 0.18, module by module, against archipel's.

For every public module of the installed ``protean`` (the command line, the DX pack, the
scaffolder, the upgrade checks, the mypy plugin and private modules left out), its public
names — ``__all__``, else the classes and functions it defines — must exist at the same
path under ``archipel`` (a submodule counts as a name), except the deliberate gaps pinned
below, each under the reason ``docs/porting.md`` gives ("Protean names archipel does not
offer"). A name Protean adds, or one archipel drops, fails the test; so does a gap that
archipel has since filled (take it off the list).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import warnings
from pathlib import Path

import pytest

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

#: Protean's modules that are no library surface of a domain program
NOT_SURFACE = (
    "protean.cli", "protean.dx", "protean.mcp", "protean.scaffold", "protean.upgrade",
    "protean.upgrade_uow", "protean.upgrade_opportunities", "protean.ext", "protean.template",
    "protean.integrations.pytest.adapter_conformance", "protean.integrations.pytest.custom_field_conformance",
)
EVERYTHING = ("*",)

#: reason (the bold label of its entry in docs/porting.md) -> Protean module -> names
#: archipel does not have there (EVERYTHING: the module itself)
GAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "Adapter classes": {
        "protean.adapters": (
            "Brokers", "Caches", "DummyEmailProvider", "EmailProviders", "InlineBroker", "MemoryCache",
            "MemoryEventStore", "MemoryModel", "MemoryProvider", "Providers",
        ),
        "protean.adapters.broker.inline": EVERYTHING,
        "protean.adapters.broker.redis": EVERYTHING,
        "protean.adapters.broker.redis_pubsub": EVERYTHING,
        "protean.adapters.cache": ("Caches",),
        "protean.adapters.cache.memory": ("TTLDict",),
        "protean.adapters.email": ("EmailProviders",),
        "protean.adapters.event_store": EVERYTHING,
        "protean.adapters.event_store.memory": EVERYTHING,
        "protean.adapters.repository": EVERYTHING,
        "protean.adapters.repository.memory": EVERYTHING,
        "protean.adapters.repository.sqlalchemy": EVERYTHING,
    },
    "Adapter-author contracts": {
        "protean.port.broker": ("BrokerCapabilities", "DLQEntry", "LeaseLostError", "OperationState"),
        "protean.port.dao": ("BaseLookup",),
        "protean.port.event_store": ("IntegrityReport", "IntegrityViolation"),
        "protean.port.provider": ("DatabaseCapabilities", "SessionProtocol"),
        "protean.utils.query": ("Node", "RegisterLookupMixin", "subclasses"),
        "protean.utils.mixins": ("HandlerMixin",),
    },
    "Element factories": {
        "protean.core.aggregate": ("aggregate_factory", "element_to_fact_event"),
        "protean.core.application_service": ("application_service_factory",),
        "protean.core.command": ("command_factory",),
        "protean.core.command_handler": ("command_handler_factory", "derive_command_stream_category"),
        "protean.core.database_model": ("database_model_factory",),
        "protean.core.domain_service": ("domain_service_factory", "wrap_methods_with_invariant_calls"),
        "protean.core.email": ("email_factory",),
        "protean.core.entity": ("entity_factory",),
        "protean.core.event": ("domain_event_factory",),
        "protean.core.event_handler": ("event_handler_factory",),
        "protean.core.event_sourced_repository": ("event_sourced_repository_factory",),
        "protean.core.index": ("validate_indexes",),
        "protean.core.process_manager": ("process_manager_factory",),
        "protean.core.projection": ("projection_factory",),
        "protean.core.projector": ("projector_factory",),
        "protean.core.query": ("query_factory",),
        "protean.core.query_handler": ("query_handler_factory",),
        "protean.core.repository": ("repository_factory",),
        "protean.core.subscriber": ("subscriber_factory",),
        "protean.core.upcaster": ("upcaster_factory",),
        "protean.core.value_object": ("value_object_factory",),
    },
    "Domain collaborators": {
        "protean.domain.command_processor": EVERYTHING,
        "protean.domain.config": ("Config2", "ConfigAttribute"),
        "protean.domain.context": ("DomainContext",),
        "protean.domain.handler_setup": EVERYTHING,
        "protean.domain.helpers": EVERYTHING,
        "protean.domain.infrastructure": EVERYTHING,
        "protean.domain.query_processor": EVERYTHING,
        "protean.domain.registry": ("properties",),
        "protean.domain.resolver": EVERYTHING,
        "protean.domain.type_manager": EVERYTHING,
        "protean.domain.validation": EVERYTHING,
    },
    "Field internals": {
        "protean.fields": ("FieldBase", "FieldSpec", "ResolvedField"),
        "protean.fields.base": ("FieldBase", "normalize_field_renamed_from"),
        "protean.fields.mixins": EVERYTHING,
        "protean.fields.resolved": EVERYTHING,
        "protean.fields.spec": EVERYTHING,
        "protean.fields.tempdata": EVERYTHING,
    },
    "IR internals": {
        "protean.ir": ("EXAMPLES_DIR",),
        "protean.ir.analysis": (
            "AttributeFact", "BehavioralView", "BlockCoverage", "CallFact", "ClassEntry", "ConstructionFact",
            "DataflowAnalyzer", "DefKind", "Definition", "ElementIndex", "FactCatalog", "FilterCallSite",
            "MethodEntry", "MethodFacts", "MethodFlow", "MethodRole", "RAISE_METHOD", "ReceiverRole",
            "SourceLocation", "SourceProvider", "SymbolResolver", "WithContext",
        ),
        "protean.ir.analysis.dataflow": EVERYTHING,
        "protean.ir.analysis.element_index": EVERYTHING,
        "protean.ir.analysis.facts": ("SourceLocation",),
        "protean.ir.analysis.source_provider": EVERYTHING,
        "protean.ir.analysis.view": ("BehavioralView", "FilterCallSite"),
        "protean.ir.builder": ("validate_lint_suppressions", "validate_lint_table"),
        "protean.ir.constants": ("is_external_io_call", "is_persistence_call"),
        "protean.ir.diagnostics": EVERYTHING,
        "protean.ir.diff": ("CompatibilityChange", "CompatibilityReport", "breaking_change_messages", "classify_changes"),
        "protean.ir.generators.agents": EVERYTHING,
        "protean.ir.generators.avro": EVERYTHING,
        "protean.ir.generators.base": EVERYTHING,
        "protean.ir.generators.catalog": EVERYTHING,
        "protean.ir.generators.clusters": EVERYTHING,
        "protean.ir.generators.event_model": EVERYTHING,
        "protean.ir.generators.events": EVERYTHING,
        "protean.ir.generators.handlers": EVERYTHING,
        "protean.ir.generators.llms": EVERYTHING,
        "protean.ir.generators.protobuf": EVERYTHING,
        "protean.ir.generators.schema": EVERYTHING,
        "protean.ir.generators.schema_writer": EVERYTHING,
        "protean.ir.staleness": ("staleness_diagnostic",),
    },
    "Engine internals": {
        "protean.server": ("Supervisor",),
        "protean.server.dlq_maintenance": EVERYTHING,
        "protean.server.engine": ("CommandDispatcher",),
        "protean.server.health": EVERYTHING,
        "protean.server.outbox_processor": EVERYTHING,
        "protean.server.projection_status": EVERYTHING,
        "protean.server.reloader": EVERYTHING,
        "protean.server.subscription": ("BaseSubscription", "event_store_multi_worker_error",
                                        "event_store_subscription_handlers"),
        "protean.server.subscription.broker_subscription": EVERYTHING,
        "protean.server.subscription.config_resolver": EVERYTHING,
        "protean.server.subscription.event_store_subscription": EVERYTHING,
        "protean.server.subscription.factory": EVERYTHING,
        "protean.server.subscription.partitioned_stream_subscription": EVERYTHING,
        "protean.server.subscription.profiles": (
            "BUILTIN_PROFILE_NAMES", "CircuitBreakerState", "DEFAULT_CONFIG", "PROFILE_DEFAULTS", "PROFILE_FIELDS",
            "SubscriptionConfig", "build_profile_registry",
        ),
        "protean.server.subscription.stream_subscription": EVERYTHING,
        "protean.server.subscription_status": EVERYTHING,
        "protean.server.supervisor": EVERYTHING,
        "protean.server.tracing": EVERYTHING,
        "protean.utils.checkpoint_trace": EVERYTHING,
        "protean.utils.consume_idempotency": EVERYTHING,
        "protean.utils.dlq": EVERYTHING,
        "protean.utils.health": EVERYTHING,
        "protean.utils.idempotency": EVERYTHING,
        "protean.utils.occ_trace": EVERYTHING,
        "protean.utils.outbox": EVERYTHING,
        "protean.utils.outbox_trace": EVERYTHING,
        "protean.utils.projection_rebuilder": EVERYTHING,
        "protean.utils.recovery_trace": EVERYTHING,
        "protean.utils.sync_dispatch": EVERYTHING,
        "protean.utils.upcasting": EVERYTHING,
    },
    "Telemetry providers": {
        "protean.utils.telemetry": (
            "DomainMetrics", "create_observation", "extract_context_from_traceparent", "get_domain_metrics",
            "get_meter_provider", "get_prometheus_text", "get_tracer_provider", "init_telemetry",
            "inject_traceparent_from_context", "instrument_fastapi_app", "shutdown_telemetry",
        ),
    },
    "Framework plumbing": {
        "protean.integrations.pytest.testbed": EVERYTHING,
        "protean.testing": ("get_generic_test_dir",),
        "protean.utils.container": EVERYTHING,
        "protean.utils.dependencies": EVERYTHING,
        "protean.utils.domain_discovery": EVERYTHING,
        "protean.utils.eventing": (
            "BaseMessageType", "DomainMeta", "EventStoreMeta", "TraceParent", "ensure_utc", "new_correlation_id",
        ),
        "protean.utils.logging": ("get_logging_config_value",),
    },
}


def surface_modules() -> list[str]:
    """Protean's public modules (importable here: optional drivers may be missing)."""
    names = ["protean"]
    for info in pkgutil.walk_packages(protean.__path__, "protean."):
        name = info.name
        if any(name == skip or name.startswith(skip + ".") for skip in NOT_SURFACE):
            continue
        if any(part.startswith("_") for part in name.split(".")):
            continue
        names.append(name)
    return names


def public_names(module: object) -> list[str]:
    """``__all__``, else the classes and functions the module itself defines."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return sorted(declared)
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__  # type: ignore[attr-defined]
    )


def has(module: object, path: str, name: str) -> bool:
    """Whether ``path.name`` exists: an attribute, or a submodule."""
    if hasattr(module, name):
        return True
    try:
        return importlib.util.find_spec(f"{path}.{name}") is not None
    except ModuleNotFoundError:
        return False


def missing_names() -> dict[str, tuple[str, ...]]:
    """Protean module -> its public names archipel lacks at the renamed path."""
    found: dict[str, tuple[str, ...]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in surface_modules():
            try:
                module = importlib.import_module(name)
            except ImportError:  # an optional driver (sendgrid, psycopg2, elasticsearch, jinja2)
                continue
            names = public_names(module)
            if not names:
                continue
            ours = "archipel" + name[len("protean"):]
            try:
                counterpart = importlib.import_module(ours)
            except ModuleNotFoundError:
                found[name] = EVERYTHING
                continue
            lacking = tuple(n for n in names if not has(counterpart, ours, n))
            if lacking:
                found[name] = lacking
    return found


def pinned() -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    for modules in GAPS.values():
        for module, names in modules.items():
            assert module not in merged, f"{module} is pinned under two reasons"
            merged[module] = tuple(sorted(names))
    return merged


def test_every_public_protean_name_is_in_archipel_or_a_pinned_gap():
    missing = {module: tuple(sorted(names)) for module, names in missing_names().items()}
    expected = pinned()
    new = {m: sorted(set(n) - set(expected.get(m, ()))) for m, n in missing.items()}
    filled = {m: sorted(set(n) - set(missing.get(m, ()))) for m, n in expected.items()}
    assert {m: n for m, n in new.items() if n} == {}, "Protean names archipel lacks (port them, or pin a reason)"
    assert {m: n for m, n in filled.items() if n} == {}, "pinned gaps archipel now fills (unpin them)"


def test_the_sweep_sees_the_surface():
    """The enumeration itself: it finds the modules and names a ported program uses."""
    modules = surface_modules()
    assert {"protean", "protean.fields", "protean.core.aggregate", "protean.server.subscription.profiles"} <= set(modules)
    assert not any(m.startswith(("protean.cli", "protean.dx")) for m in modules)
    assert "Domain" in public_names(importlib.import_module("protean"))
    assert "SubscriptionProfile" in public_names(importlib.import_module("protean.server.subscription.profiles"))


def test_every_gap_reason_is_explained_in_the_porting_guide():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "porting.md").read_text(encoding="utf-8")
    section = guide.split("## Protean names archipel does not offer", 1)
    assert len(section) == 2, "docs/porting.md lacks its section on the pinned gaps"
    for reason in GAPS:
        assert f"**{reason}**" in section[1], reason
