"""A domain ``archipel check`` finds wrong: a projector of a class that is no projection,
and a command nobody handles."""

from archipel import BaseProjector, Domain, handle
from archipel.fields import Identifier, String

unrouted = Domain(name="Unrouted")


@unrouted.aggregate
class Order:
    note = String()


@unrouted.event(part_of=Order)
class Placed:
    order_id = Identifier()


@unrouted.command(part_of=Order)
class Place:
    order_id = Identifier()


@unrouted.projector(projector_for=Order, aggregates=[Order])
class Board(BaseProjector):
    @handle(Placed)
    def placed(self, event):
        pass
