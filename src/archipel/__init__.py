"""archipel: bounded contexts with DDD, CQRS and event sourcing.

The public API is this flat façade; everything else is private detail.
"""

from archipel.core.aggregate import BaseAggregate
from archipel.core.application_service import BaseApplicationService, use_case
from archipel.core.command import BaseCommand
from archipel.core.command_handler import BaseCommandHandler
from archipel.core.domain_service import BaseDomainService
from archipel.core.entity import BaseEntity, atomic_change
from archipel.core.event import BaseEvent
from archipel.core.event_handler import BaseEventHandler
from archipel.core.event_sourcing import apply
from archipel.core.handler import handle
from archipel.core.index import Index
from archipel.core.invariant import invariant
from archipel.core.message import Metadata
from archipel.core.process_manager import BaseProcessManager
from archipel.core.projection import BaseProjection
from archipel.core.projector import BaseProjector
from archipel.core.query import BaseQuery
from archipel.core.query_handler import BaseQueryHandler
from archipel.core.queryset import QuerySet, ReadOnlyQuerySet, Record, ResultSet
from archipel.core.subscriber import BaseSubscriber
from archipel.core.upcaster import BaseUpcaster
from archipel.core.value_object import BaseValueObject, value_object_from_entity
from archipel.core.view import ReadView
from archipel.domain.domain import Domain
from archipel.handling.repository import BaseRepository
from archipel.handling.unit_of_work import UnitOfWork
from archipel.server import Engine
from archipel.utils.globals import current_domain, current_uow, g, has_domain_context
from archipel.utils.mixins import read
from archipel.utils.processing import Priority, current_priority, processing_priority
from archipel.utils.query import F, Q

__version__ = "0.1.0"


def get_version() -> str:
    """The installed archipel version (Protean's ``get_version``)."""
    return __version__


__all__ = [
    "get_version",
    "read",
    "processing_priority",
    "has_domain_context",
    "g",
    "current_uow",
    "current_priority",
    "Priority",
    "Index",
    "F",
    "Engine",
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
    "__version__",
]
