"""The files of ``archipel add aggregate``'s slice (Protean 0.18's, renamed): ``(module,
ownership, text)``, the text a ``str.format`` template of ``Class``, ``slug``, ``package`` and
``domain`` (the domain variable)."""

from __future__ import annotations

__all__ = ["SLICE"]

SLICE: tuple[tuple[str, str, str], ...] = (
    (
        '__init__.py',
        'hand-owned',
        '''\
"""The {Class} slice.

Modules are discovered independently by ``domain.init()``. Keep this
package initializer side-effect free so relative imports during
traversal cannot create partially initialized-module cycles.
"""
''',
    ),
    (
        'aggregate_base.py',
        'generated',
        '''\
"""Generated base for the {Class} aggregate.

``archipel add`` generates this file and refreshes it on every re-run, so do not
edit it. Put your invariants and behavior in ``aggregate.py``, the hand-owned
subclass a re-run never overwrites (the generation-gap seam).
"""

from typing import Annotated, Self

from pydantic import Field

from archipel.core.aggregate import BaseAggregate

from .events import {Class}Created


class {Class}Base(BaseAggregate):
    """Generated structure and wiring for {Class}. Edit the subclass, not this."""

    name: Annotated[str, Field(max_length=100)]

    @classmethod
    def create(cls, name: str) -> Self:
        """Create a new {Class} and raise {Class}Created."""
        {slug} = cls(name=name)

        {slug}.raise_(
            {Class}Created(
                {slug}_id={slug}.id,
                name={slug}.name,
            )
        )

        return {slug}
''',
    ),
    (
        'aggregate.py',
        'hand-owned',
        '''\
"""The {Class} aggregate.

Your own logic lives here. ``archipel add`` never overwrites this file, so add
invariants (``@invariant.post``) and behavior as methods on the class below. The
generated structure and wiring sit in ``aggregate_base.py`` (the generation-gap
seam).
"""

from {package}.domain import {domain}

from .aggregate_base import {Class}Base


@{domain}.aggregate
class {Class}({Class}Base):
    """The {Class} aggregate root."""
''',
    ),
    (
        'commands.py',
        'hand-owned',
        '''\
"""Commands for the {Class} aggregate."""

from typing import Annotated

from pydantic import Field

from {package}.domain import {domain}


@{domain}.command(part_of="{Class}")
class Create{Class}:
    """Command to create a new {Class}."""

    name: Annotated[str, Field(max_length=100)]
''',
    ),
    (
        'events.py',
        'hand-owned',
        '''\
"""Events emitted by the {Class} aggregate."""

from typing import Annotated

from pydantic import Field

from {package}.domain import {domain}


@{domain}.event(part_of="{Class}")
class {Class}Created:
    """Event emitted when a {Class} is created."""

    {slug}_id: str
    name: Annotated[str, Field(max_length=100)]
''',
    ),
    (
        'command_handlers.py',
        'hand-owned',
        '''\
"""Command handlers for the {Class} aggregate."""

from archipel import handle

from {package}.domain import {domain}

from .aggregate import {Class}
from .commands import Create{Class}


@{domain}.command_handler(part_of="{Class}")
class {Class}CommandHandler:
    """Handle commands for the {Class} aggregate."""

    @handle(Create{Class})
    def handle_create_{slug}(self, command: Create{Class}) -> str:
        """Create a {Class} from the command and persist it.

        Returns the new aggregate's id so a synchronous caller can look it up
        right after ``domain.process``.
        """
        {slug} = {Class}.create(name=command.name)

        repo = {domain}.repository_for({Class})
        repo.add({slug})

        return {slug}.id
''',
    ),
    (
        'projection.py',
        'hand-owned',
        '''\
"""Read-model projection for the {Class} aggregate."""

from typing import Annotated

from archipel.fields import Identifier
from pydantic import Field

from {package}.domain import {domain}


@{domain}.projection
class {Class}Summary:
    """A read-optimized view of {Class} aggregates."""

    {slug}_id: Identifier(identifier=True)
    name: Annotated[str, Field(max_length=100)]

    class Meta:
        stream_name = "{slug}"
''',
    ),
    (
        'projectors.py',
        'hand-owned',
        '''\
"""Projector that keeps {Class}Summary up to date."""

from archipel.core.projector import on

from {package}.domain import {domain}

from .aggregate import {Class}
from .events import {Class}Created
from .projection import {Class}Summary


@{domain}.projector(projector_for={Class}Summary, aggregates=[{Class}])
class {Class}Projector:
    """Update the {Class}Summary projection from {Class} events."""

    @on({Class}Created)
    def on_{slug}_created(self, event: {Class}Created) -> None:
        """Create a {Class}Summary when a {Class} is created."""
        summary = {Class}Summary(
            {slug}_id=event.{slug}_id,
            name=event.name,
        )

        repo = {domain}.repository_for({Class}Summary)
        repo.add(summary)
''',
    ),
)
