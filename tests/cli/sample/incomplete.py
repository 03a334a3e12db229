"""A domain with warnings (a command nobody handles, an event nothing reacts to): they fail
``archipel check`` at the default ``[lint]`` floor."""

from archipel import Domain
from archipel.fields import Identifier, String

incomplete = Domain(name="Incomplete")


@incomplete.aggregate
class Ticket:
    title = String()


@incomplete.command(part_of=Ticket)
class Open:
    ticket_id = Identifier()


@incomplete.event(part_of=Ticket)
class Opened:
    ticket_id = Identifier()
