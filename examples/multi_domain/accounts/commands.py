"""Commands of the accounts context and their handler."""

from __future__ import annotations

from typing import Any

from archipel import BaseCommand, current_domain, handle
from archipel.fields import Identifier, String, ValueObject
from examples.multi_domain.accounts import accounts_domain
from examples.multi_domain.accounts.customer import Address, Customer


@accounts_domain.command(part_of=Customer)
class RegisterCustomer(BaseCommand):
    name = String(required=True, max_length=80)
    email = String(required=True, max_length=254)
    address = ValueObject(Address)


@accounts_domain.command(part_of=Customer)
class MoveCustomer(BaseCommand):
    customer_id = Identifier(required=True)
    address = ValueObject(Address, required=True)


@accounts_domain.command(part_of=Customer)
class PromoteCustomer(BaseCommand):
    customer_id = Identifier(required=True)
    segment = String(required=True)


@accounts_domain.command_handler(part_of=Customer)
class CustomerCommands:
    """Use cases of the accounts context: load, call the aggregate, add."""

    @handle(RegisterCustomer)
    def register(self, command: RegisterCustomer) -> Any:
        customer = Customer.register(command.name, command.email, command.address)
        current_domain.repository_for(Customer).add(customer)
        return customer.customer_id

    @handle(MoveCustomer)
    def move(self, command: MoveCustomer) -> None:
        repo = current_domain.repository_for(Customer)
        customer = repo.get(command.customer_id)
        customer.move_to(command.address)
        repo.add(customer)

    @handle(PromoteCustomer)
    def promote(self, command: PromoteCustomer) -> None:
        repo = current_domain.repository_for(Customer)
        customer = repo.get(command.customer_id)
        customer.promote(command.segment)
        repo.add(customer)
