"""``incomplete``'s domain with ``[lint] level = "error"``: only errors fail the check."""

from archipel import Domain
from archipel.fields import Identifier, String

floor = Domain(name="LintFloor", config={"lint": {"level": "error"}})


@floor.aggregate
class Ticket:
    title = String()


@floor.command(part_of=Ticket)
class Open:
    ticket_id = Identifier()


@floor.event(part_of=Ticket)
class Opened:
    ticket_id = Identifier()
