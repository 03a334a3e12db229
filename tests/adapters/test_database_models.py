"""Custom database models (Protean's ``@domain.database_model``) on every provider.

A model names the table of an aggregate or projection (``schema_name``), for
one database type (``database=``) or all; anything else a Protean model can
declare is refused at ``init()``, naming it.
"""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseProjection
from archipel.core.database_model import BaseDatabaseModel
from archipel.errors import ConfigurationError
from archipel.fields import Identifier, Integer, String
from tests.adapters.conftest import start


def declare(domain):
    @domain.aggregate
    class Product(BaseAggregate):
        name = String(max_length=50, required=True)

    @domain.projection
    class Stock(BaseProjection):
        product_id = Identifier(identifier=True)
        units = Integer(default=0)

    return Product, Stock


def table_names(domain, projection) -> set[str]:
    with domain.connection_for(projection) as conn:
        tables = getattr(conn, "tables", None)
        if tables is not None:  # the memory database
            return set(tables)
        import sqlalchemy

        return set(sqlalchemy.inspect(conn).get_table_names()) if hasattr(conn, "dialect") else _raw(conn)


def _raw(conn) -> set[str]:
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    except Exception:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {row[0] for row in cursor.fetchall()}


def test_a_model_names_the_table_and_the_element_is_stored_there(make_domain, provider):
    domain = make_domain()
    Product, Stock = declare(domain)

    class ProductModel(BaseDatabaseModel):
        pass

    domain.register(ProductModel, part_of=Product, schema_name="products")

    @domain.database_model(part_of=Stock, schema_name="stock_levels")
    class StockModel:
        pass

    start(domain)
    assert domain.schema_for(Product).table == "products"
    assert domain.schema_for(Stock).table == "stock_levels"
    with domain.domain_context():
        product = Product(name="lamp")
        domain.repository_for(Product).add(product)
        domain.repository_for(Stock).add(Stock(product_id=product.id, units=3))
        assert domain.repository_for(Product).get(product.id).name == "lamp"
        assert domain.view_for(Stock).get(product.id).units == 3
    names = table_names(domain, Stock)
    assert {"products", "stock_levels"} <= names
    assert f"{domain.snake_name}_product" not in names


def test_a_model_for_another_database_type_does_not_apply(make_domain, provider):
    domain = make_domain()
    Product, Stock = declare(domain)
    other = "postgresql" if provider != "postgresql" else "sqlite"
    domain.database_model(part_of=Stock, schema_name="generic_stock")(type("Generic", (), {}))
    domain.database_model(part_of=Stock, schema_name="other_stock", database=other)(type("Other", (), {}))
    domain.database_model(part_of=Product, schema_name="mine", database=provider)(type("Mine", (), {}))
    domain.database_model(part_of=Product, schema_name="generic")(type("AnyDb", (), {}))
    start(domain)
    assert domain.schema_for(Stock).table == "generic_stock"
    assert domain.schema_for(Product).table == "mine"  # the model of this type beats the generic one


@pytest.mark.parametrize(
    ("body", "options", "message"),
    [
        ({"name": String(max_length=9)}, {"schema_name": "p"}, r"declares name: archipel maps fields"),
        ({"from_entity": classmethod(lambda cls, e: {})}, {"schema_name": "p"}, r"declares from_entity"),
        ({}, {}, r"changes nothing: give schema_name="),
        ({}, {"schema_name": "p", "database": "elasticsearch"}, r"database='elasticsearch' is not a database type"),
    ],
)
def test_what_a_model_cannot_do_here_is_refused_naming_it(make_domain, body, options, message):
    domain = make_domain()
    Product, _ = declare(domain)
    domain.database_model(part_of=Product, **options)(type("ProductModel", (), dict(body)))
    with pytest.raises(ConfigurationError, match=message):
        domain.init(traverse=False)


def test_models_of_an_event_sourced_aggregate_or_twice_the_same_type_are_refused(make_domain):
    domain = make_domain()

    @domain.aggregate(is_event_sourced=True)
    class Ledger(BaseAggregate):
        total = Integer(default=0)

    domain.database_model(part_of=Ledger, schema_name="ledgers")(type("LedgerModel", (), {}))
    with pytest.raises(ConfigurationError, match=r"Ledger is event-sourced and has no table"):
        domain.init(traverse=False)

    again = make_domain()
    Product, _ = declare(again)
    again.database_model(part_of=Product, schema_name="a")(type("A", (), {}))
    again.database_model(part_of=Product, schema_name="b")(type("B", (), {}))
    with pytest.raises(ConfigurationError, match=r"Product has two database models for every database"):
        again.init(traverse=False)


def test_schema_name_on_both_the_element_and_its_model_must_agree(make_domain):
    domain = make_domain()

    @domain.aggregate(schema_name="items")
    class Product(BaseAggregate):
        name = String(max_length=50)

    domain.database_model(part_of=Product, schema_name="products")(type("ProductModel", (), {}))
    with pytest.raises(ConfigurationError, match=r"sets schema_name='items' and its database model 'products'"):
        domain.init(traverse=False)
