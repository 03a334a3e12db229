"""Every module path and name Protean 0.18's documentation shows exists in archipel.

A Protean program ports by renaming the package: ``protean.X`` -> ``archipel.X``.
Each entry below is one documented import; the test imports it the way a
ported program would. Where a name has one canonical home and a documented
second path (a façade), both give the *same* object.
"""

from __future__ import annotations

import importlib

import pytest

import archipel

DOCUMENTED = {
    "archipel": [
        "Domain", "Engine", "Index", "Priority", "Q", "QuerySet", "Record", "UnitOfWork", "apply",
        "atomic_change", "current_domain", "current_priority", "current_uow", "g", "get_version",
        "handle", "invariant", "processing_priority", "read", "use_case",
    ],
    "archipel.domain": ["Domain"],
    "archipel.exceptions": [
        "ConfigurationError", "DatabaseError", "DeserializationError", "DuplicateCommandError",
        "CommandExpiredError", "ExpectedVersionError", "IncorrectUsageError",
        "InsufficientDataError", "InvalidDataError", "InvalidOperationError", "InvalidStateError",
        "NoDomainException", "NotSupportedError", "ObjectNotFoundError", "ProteanException",
        "ProteanExceptionWithMessage", "SendError", "TooManyObjectsError", "TransactionError",
        "ValidationError",
    ],
    "archipel.utils": ["IdentityStrategy", "IdentityType", "Processing", "fqn", "fully_qualified_name", "utcnow_func"],
    "archipel.utils.globals": ["current_domain", "current_uow", "g", "has_domain_context"],
    "archipel.utils.query": ["Q"],
    "archipel.utils.eventing": ["Message", "MessageEnvelope", "MessageHeaders", "MessageType", "Metadata"],
    "archipel.utils.mixins": ["handle", "read"],
    "archipel.utils.processing": ["Priority", "current_priority", "processing_priority"],
    "archipel.utils.logging": [
        "add_context", "bind_event_context", "clear_context", "configure_for_testing",
        "configure_logging", "get_logger", "log_method_call", "unbind_event_context",
    ],
    "archipel.integrations.logging": [
        "DEFAULT_REDACT_KEYS", "LOG_RECORD_RESERVED_ATTRS", "OTelTraceContextFilter", "ProteanCorrelationFilter",
        "ProteanRedactionFilter", "make_redaction_processor", "protean_correlation_processor",
        "protean_otel_processor", "protean_redaction_processor",
    ],
    "archipel.utils.telemetry": ["describe_exception", "get_meter", "get_tracer", "set_span_error"],
    "archipel.server.subscription.profiles": ["SubscriptionProfile", "SubscriptionType"],
    "archipel.domain.context": ["has_domain_context"],
    "archipel.port.broker": ["BaseBroker", "BrokerRegistry", "registry"],
    "archipel.integrations.fastapi.health": ["create_health_router"],
    "archipel.integrations.fastapi.middleware": ["DomainContextMiddleware"],
    "archipel.integrations.fastapi.exception_handlers": ["register_exception_handlers"],
    "archipel.integrations.fastapi.telemetry": ["instrument_app"],
    "archipel.ir": ["IRBuilder", "diff_ir", "classify_changes", "load_config", "check_staleness"],
    "archipel.utils.reflection": [
        "association_fields", "attributes", "data_fields", "declared_fields", "fields",
        "has_association_fields", "has_fields", "has_id_field", "id_field", "reference_fields",
        "unique_fields", "value_object_fields",
    ],
    "archipel.server": ["Engine"],
    "archipel.testing": [
        "AggregateResult", "DomainFixture", "EventLog", "EventSequence", "ProcessManagerResult",
        "ProcessResult", "ProjectionResult", "drain", "given", "process_and_wait",
    ],
    "archipel.port.dao": ["BaseDAO"],
    "archipel.port.event_store": ["BaseEventStore"],
    "archipel.port.provider": ["BaseProvider", "ProviderRegistry", "registry"],
    "archipel.port.cache": ["BaseCache"],
    "archipel.adapters.cache.memory": ["MemoryCache"],
    "archipel.adapters.cache.redis": ["RedisCache"],
    "archipel.adapters": [],
    "archipel.adapters.memory": [],
    "archipel.fields": [
        "String", "Text", "Integer", "Float", "Boolean", "Identifier", "Auto", "Method", "Nested",
        "ValueObjectList",
    ],
    "archipel.fields.basic": ["Method", "Nested", "ValueObjectList", "String", "List", "Dict"],
    "archipel.fields.validators": [
        "MinLengthValidator", "MaxLengthValidator", "MinValueValidator", "MaxValueValidator",
        "RegexValidator",
    ],
    "archipel.core.aggregate": ["BaseAggregate", "apply", "atomic_change"],
    "archipel.core.entity": ["BaseEntity", "invariant"],
    "archipel.core.value_object": ["BaseValueObject"],
    "archipel.core.command": ["BaseCommand"],
    "archipel.core.event": ["BaseEvent"],
    "archipel.core.command_handler": ["BaseCommandHandler"],
    "archipel.core.event_handler": ["BaseEventHandler"],
    "archipel.core.projector": ["BaseProjector", "on"],
    "archipel.core.projection": ["BaseProjection"],
    "archipel.core.query": ["BaseQuery"],
    "archipel.core.query_handler": ["BaseQueryHandler"],
    "archipel.core.process_manager": ["BaseProcessManager"],
    "archipel.core.subscriber": ["BaseSubscriber"],
    "archipel.core.repository": ["BaseRepository"],
    "archipel.core.event_sourced_repository": ["BaseEventSourcedRepository"],
    "archipel.core.database_model": ["BaseDatabaseModel"],
    "archipel.core.email": ["BaseEmail", "BaseEmailProvider"],
    "archipel.adapters.email.dummy": ["DummyEmailProvider"],
    "archipel.core.application_service": ["BaseApplicationService", "use_case"],
    "archipel.core.domain_service": ["BaseDomainService"],
    "archipel.core.unit_of_work": ["UnitOfWork"],
    "archipel.core.upcaster": ["BaseUpcaster"],
    "archipel.core.queryset": ["QuerySet", "ReadOnlyQuerySet", "Record", "ResultSet"],
    "archipel.core.view": ["ReadView"],
    "archipel.core.index": ["Index", "RawIndex"],
}


@pytest.mark.parametrize("module", sorted(DOCUMENTED))
def test_every_documented_path_and_name_imports(module):
    imported = importlib.import_module(module)
    for name in DOCUMENTED[module]:
        assert getattr(imported, name, None) is not None, f"{module}.{name}"


SAME_OBJECT = [
    ("archipel.exceptions.ObjectNotFoundError", "archipel.errors.ObjectNotFound"),
    ("archipel.exceptions.InvalidOperationError", "archipel.errors.InvalidOperation"),
    ("archipel.exceptions.TooManyObjectsError", "archipel.errors.TooManyObjects"),
    ("archipel.exceptions.ValidationError", "archipel.errors.ValidationError"),
    ("archipel.exceptions.ProteanException", "archipel.errors.ArchipelError"),
    ("archipel.domain.Domain", "archipel.Domain"),
    ("archipel.server.Engine", "archipel.Engine"),
    ("archipel.utils.globals.current_domain", "archipel.current_domain"),
    ("archipel.utils.mixins.handle", "archipel.core.handler.handle"),
    ("archipel.utils.query.Q", "archipel.Q"),
    ("archipel.core.repository.BaseRepository", "archipel.BaseRepository"),
    ("archipel.core.unit_of_work.UnitOfWork", "archipel.UnitOfWork"),
    ("archipel.utils.eventing.Metadata", "archipel.Metadata"),
    ("archipel.port.broker.BaseBroker", "archipel.port.broker.Broker"),
    ("archipel.port.cache.BaseCache", "archipel.port.cache.Cache"),
]


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("documented", "canonical"), SAME_OBJECT)
def test_a_second_path_gives_the_same_object(documented, canonical):
    assert _resolve(documented) is _resolve(canonical)


def test_protean_exception_names_catch_what_archipel_raises(make_domain):
    from archipel.exceptions import ObjectNotFoundError, ProteanException
    from archipel.fields import String
    from tests.unit._support import start

    domain = make_domain()

    @domain.aggregate
    class Note(archipel.BaseAggregate):
        text = String()

    start(domain)
    with domain.domain_context():
        with pytest.raises(ObjectNotFoundError) as caught:
            domain.repository_for(Note).get("missing")
    assert isinstance(caught.value, ProteanException)


def test_every_exception_is_one_class_under_the_root():
    import archipel.exceptions as exceptions

    for name in exceptions.__all__:
        if name == "ProteanDeprecationWarning":  # a warning category, not an error
            assert exceptions.ProteanDeprecationWarning is DeprecationWarning
            continue
        assert issubclass(getattr(exceptions, name), exceptions.ArchipelError), name


def test_g_lives_for_one_domain_context(make_domain):
    from archipel import g, has_domain_context
    from archipel.errors import IncorrectUsageError

    domain = make_domain()
    assert not has_domain_context()
    with pytest.raises(IncorrectUsageError, match="domain_context"):
        g.user = "ana"
    # as on Protean's proxies: equal to None, and hasattr/getattr-with-default work
    assert g == None  # noqa: E711 - the comparison Protean documents
    assert not hasattr(g, "user") and getattr(g, "user", "none") == "none"
    with domain.domain_context():
        assert has_domain_context()
        g.user = "ana"
        assert g.user == "ana"
        with domain.domain_context():
            assert not hasattr(g, "user")  # a nested context has its own g
        assert g.user == "ana"
    with domain.domain_context():
        assert not hasattr(g, "user")


def test_current_uow_is_the_unit_of_work_of_the_block(make_domain):
    from archipel import UnitOfWork, current_uow
    from archipel.fields import String
    from tests.unit._support import start

    domain = make_domain()

    @domain.aggregate
    class Note(archipel.BaseAggregate):
        text = String()

    start(domain)
    assert not current_uow
    with domain.domain_context():
        with UnitOfWork() as uow:
            assert current_uow and current_uow.in_progress
            assert current_uow.domain is uow.domain is domain
            domain.repository_for(Note).add(Note(id="n1", text="kept"))
        assert not current_uow
        assert domain.repository_for(Note).get("n1").text == "kept"
        with pytest.raises(RuntimeError), UnitOfWork():
            domain.repository_for(Note).add(Note(id="n2", text="dropped"))
            raise RuntimeError("boom")
        assert domain.repository_for(Note).get_or_none("n2") is None


def test_unit_of_work_outside_a_domain_context_says_what_to_do():
    from archipel import UnitOfWork
    from archipel.errors import IncorrectUsageError

    with pytest.raises(IncorrectUsageError, match="domain_context"):
        UnitOfWork()


def test_processing_priority_nests_and_defaults_to_normal():
    from archipel import Priority, current_priority, processing_priority

    assert current_priority() == Priority.NORMAL
    with processing_priority(Priority.LOW):
        assert current_priority() == Priority.LOW
        with processing_priority(Priority.CRITICAL):
            assert current_priority() == Priority.CRITICAL
        assert current_priority() == Priority.LOW
    assert current_priority() == Priority.NORMAL


def test_reflection_reports_fields_identity_and_kinds(make_domain):
    from archipel.fields import Identifier, String, ValueObject
    from archipel.utils import reflection

    domain = make_domain()

    @domain.value_object
    class Email(archipel.BaseValueObject):
        address = String(max_length=254)

    @domain.aggregate
    class Customer(archipel.BaseAggregate):
        code = Identifier(identifier=True)
        name = String(unique=True)
        email = ValueObject(Email)

    domain.init(traverse=False)
    assert list(reflection.fields(Customer)) == ["code", "name", "email"]
    assert reflection.id_field(Customer) is reflection.fields(Customer)["code"]
    assert reflection.has_id_field(Customer) and not reflection.has_id_field(Email)
    assert set(reflection.unique_fields(Customer)) == {"code", "name"}
    assert set(reflection.value_object_fields(Customer)) == {"email"}
    assert reflection.association_fields(Customer) == {}
    assert reflection.declared_fields(Customer(code="c1", name="Ana")) == reflection.fields(Customer)


def test_eventing_message_round_trips_a_domain_event(make_domain):
    from archipel.fields import String
    from archipel.utils.eventing import Message, MessageType

    domain = make_domain()

    @domain.aggregate
    class Note(archipel.BaseAggregate):
        text = String()

    @domain.event(part_of=Note)
    class Noted(archipel.BaseEvent):
        text = String()

    domain.init(traverse=False)
    note = Note(text="draft")
    note.raise_(Noted(text="hi"))
    event = note._events[-1]
    message = Message.from_domain_object(event)
    assert message.data["text"] == "hi"
    assert MessageType(message.metadata["kind"]) is MessageType.EVENT
    with domain.domain_context():
        again = message.to_domain_object()
    assert type(again) is Noted and again.text == "hi"


def test_index_refuses_an_empty_declaration():
    from archipel import Index
    from archipel.errors import IncorrectUsageError

    assert Index("email", unique=True).fields == ("email",)
    with pytest.raises(IncorrectUsageError):
        Index()


def test_utils_enums_carry_the_configuration_values(make_domain):
    from archipel.utils import IdentityStrategy, Processing, fqn

    domain = make_domain(event_processing=Processing.ASYNC.value)
    assert domain.config["event_processing"] == "async"
    assert IdentityStrategy("function") is IdentityStrategy.FUNCTION
    assert fqn(Processing) == "archipel.utils.Processing"
    assert fqn(Processing.SYNC) == "archipel.utils.Processing"
