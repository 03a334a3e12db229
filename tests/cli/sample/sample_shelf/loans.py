"""Loans: an event-sourced aggregate (for ``archipel snapshot``)."""

from archipel import BaseAggregate, BaseEvent, apply
from archipel.fields import Identifier, Integer
from sample_shelf import domain


@domain.aggregate(is_event_sourced=True)
class Loan(BaseAggregate):
    renewals = Integer(default=0)

    @apply
    def lent(self, event: "Lent") -> None:
        self.renewals = 0

    @apply
    def renewed(self, event: "Renewed") -> None:
        self.renewals += 1


@domain.event(part_of=Loan)
class Lent(BaseEvent):
    loan_id = Identifier(required=True)


@domain.event(part_of=Loan)
class Renewed(BaseEvent):
    loan_id = Identifier(required=True)
