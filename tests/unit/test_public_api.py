"""The public façade: ``archipel.__all__`` is exactly the documented API, and the import
paths the seeds use keep working."""

from __future__ import annotations

import importlib

import archipel

EXPECTED_ALL = [
    "BaseAggregate",
    "BaseApplicationService",
    "BaseCommand",
    "BaseCommandHandler",
    "BaseDomainService",
    "BaseEntity",
    "BaseEvent",
    "BaseEventHandler",
    "BaseProcessManager",
    "BaseProjection",
    "BaseProjector",
    "BaseQuery",
    "BaseQueryHandler",
    "BaseRepository",
    "BaseSubscriber",
    "BaseUpcaster",
    "BaseValueObject",
    "Domain",
    "F",
    "Metadata",
    "Q",
    "QuerySet",
    "ReadOnlyQuerySet",
    "ReadView",
    "Record",
    "ResultSet",
    "UnitOfWork",
    "apply",
    "atomic_change",
    "current_domain",
    "handle",
    "invariant",
    "use_case",
    "value_object_from_entity",
    "Engine",
    "Index",
    "Priority",
    "current_priority",
    "current_uow",
    "g",
    "get_version",
    "has_domain_context",
    "processing_priority",
    "read",
    "__version__",
]

FIELDS = [
    "String", "Text", "Integer", "Float", "Decimal", "Boolean", "Date", "DateTime",
    "Identifier", "Auto", "List", "Dict", "ValueObject", "HasMany", "HasOne", "Reference",
    "Status",
]

ERRORS = [
    "ArchipelError", "ConfigurationError", "IncorrectUsageError", "NotSupportedError",
    "ValidationError", "InvalidDataError", "InvalidOperation", "InvalidStateError",
    "InvalidState", "ObjectNotFound", "ExpectedVersionError", "DuplicateMessageError",
    "DatabaseError", "DatabaseUnavailable", "SchemaMissingError", "BrokerError",
    "BrokerUnavailable", "LeaseLostError",
]


def test_all_is_exactly_the_expected_public_api():
    assert sorted(archipel.__all__) == sorted(EXPECTED_ALL)
    assert len(archipel.__all__) == len(set(archipel.__all__))


def test_every_public_name_is_importable():
    for name in archipel.__all__:
        assert getattr(archipel, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from archipel import *", namespace)  # noqa: S102 - the star import users write
    assert set(EXPECTED_ALL) - {"__version__"} <= set(namespace)


def test_version_is_a_dotted_string():
    assert all(part.isdigit() for part in archipel.__version__.split("."))


def test_seed_import_paths_work():
    from archipel.core.event import BaseEvent
    from archipel.integrations.pytest import DomainFixture

    assert BaseEvent is archipel.BaseEvent
    assert callable(DomainFixture)
    fastapi = importlib.import_module("archipel.integrations.fastapi")
    assert hasattr(fastapi, "DomainContextMiddleware")
    assert hasattr(fastapi, "register_exception_handlers")


def test_every_field_type_is_importable_from_archipel_fields():
    import archipel.fields as fields

    for name in FIELDS:
        assert name in fields.__all__, name
        assert isinstance(getattr(fields, name), type)


def test_every_error_derives_from_archipel_error():
    import archipel.errors as errors

    assert set(ERRORS) <= set(errors.__all__)
    for name in ERRORS:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ArchipelError), name
    assert issubclass(errors.ExpectedVersionError, errors.ArchipelError)
    assert issubclass(errors.InvalidDataError, errors.ValidationError)
    assert errors.InvalidState is errors.InvalidStateError
