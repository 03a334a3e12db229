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
from archipel.core.invariant import invariant
from archipel.core.message import Metadata
from archipel.core.process_manager import BaseProcessManager
from archipel.core.projection import BaseProjection
from archipel.core.projector import BaseProjector
from archipel.core.query import BaseQuery
from archipel.core.query_handler import BaseQueryHandler
from archipel.core.queryset import QuerySet, ResultSet
from archipel.core.subscriber import BaseSubscriber
from archipel.core.upcaster import BaseUpcaster
from archipel.core.value_object import BaseValueObject
from archipel.domain.domain import Domain
from archipel.handling.repository import BaseRepository
from archipel.handling.unit_of_work import UnitOfWork
from archipel.utils.globals import current_domain
from archipel.utils.query import Q

__version__ = "0.1.0"

__all__ = [
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
    "ResultSet",
    "UnitOfWork",
    "apply",
    "atomic_change",
    "current_domain",
    "handle",
    "invariant",
    "use_case",
    "__version__",
]
