"""``incomplete``'s domain with a malformed ``[lint]`` table (``level = "loud"``)."""

from archipel import Domain
from archipel.fields import Identifier, String

broken_lint = Domain(name="LintBroken", config={"lint": {"level": "loud"}})


@broken_lint.aggregate
class Ticket:
    title = String()


@broken_lint.command(part_of=Ticket)
class Open:
    ticket_id = Identifier()


@broken_lint.event(part_of=Ticket)
class Opened:
    ticket_id = Identifier()
