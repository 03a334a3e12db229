"""The Database/Transaction contract, on every storage provider (``port/provider.py``)."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from archipel.core.queryset import Criteria
from archipel.errors import (
    DuplicateMessageError,
    ExpectedVersionError,
    SchemaMissingError,
    ValidationError,
)
from tests.adapters._model import define, full_account, record
from tests.adapters.conftest import SQL_PROVIDERS, start


@pytest.fixture
def model(make_domain):
    domain = make_domain()
    model = define(domain)
    start(domain)
    with domain.domain_context():
        yield model


def db(model):
    return model.domain.providers.database()


def comparable(found: dict) -> dict:
    """A record with the representations adapters may legitimately vary in made equal."""
    out = dict(found)
    if out.get("balance") is not None:
        out["balance"] = decimal.Decimal(out["balance"])
    if out.get("seen") is not None:
        out["seen"] = dt.datetime.fromisoformat(out["seen"])
    return out


def test_a_saved_record_reads_back_in_primitive_form_with_its_version(model):
    schema = model.schema(model.Account)
    saved = record(model, full_account(model))
    tx = db(model).begin()
    tx.save(schema, saved, -1)
    tx.commit()

    found = db(model).begin().get(schema, "a1")
    assert found["_version"] == 0
    del found["_version"]
    assert comparable(found) == comparable(saved)
    assert found["notes"] == saved["notes"]
    assert found["address"] == {"street": "1 Main St", "city": "Lyon"}
    # and the element rebuilds from it
    rebuilt = model.domain.repository_for(model.Account).get("a1")
    assert rebuilt.notes[0].text == "hello"
    assert rebuilt.balance == decimal.Decimal("12.50")
    assert rebuilt.seen == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert rebuilt.born == dt.date(1984, 2, 29)
    assert rebuilt.active is False


def test_missing_values_read_back_as_none(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, model.Account(id="a2", name="Bo")), -1)
    tx.commit()
    found = db(model).begin().get(schema, "a2")
    assert found["age"] is None and found["seen"] is None and found["address"] is None
    assert found["tags"] == [] and found["notes"] == []
    assert db(model).begin().get(schema, "nobody") is None


def test_updates_are_optimistic(model):
    schema = model.schema(model.Account)
    first = record(model, full_account(model))
    tx = db(model).begin()
    tx.save(schema, first, -1)
    tx.commit()

    tx = db(model).begin()
    tx.save(schema, {**first, "age": 42}, 0)
    tx.commit()
    assert db(model).begin().get(schema, "a1")["_version"] == 1

    stale = db(model).begin()
    stale.save(schema, {**first, "age": 99}, 0)
    with pytest.raises(ExpectedVersionError) as caught:
        stale.commit()
    assert caught.value.expected == 0
    found = db(model).begin().get(schema, "a1")
    assert (found["age"], found["_version"]) == (42, 1)


def test_inserting_an_existing_identity_conflicts_and_writes_nothing(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model)), -1)
    tx.commit()

    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "other", email="o@x")), -1)
    tx.save(schema, record(model, full_account(model, "a1", name="Again")), -1)
    with pytest.raises(ExpectedVersionError, match="already exists"):
        tx.commit()
    reader = db(model).begin()
    assert reader.get(schema, "other") is None
    assert reader.get(schema, "a1")["name"] == "Ann"


def test_a_unique_field_refuses_a_second_holder(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "a1", email="same@x")), -1)
    tx.commit()
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "a2", email="same@x")), -1)
    with pytest.raises(ValidationError) as caught:
        tx.commit()
    assert "email" in caught.value.messages
    assert db(model).begin().get(schema, "a2") is None


def test_a_transaction_reads_its_own_writes_and_rollback_discards_them(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "a1")), -1)
    assert tx.get(schema, "a1")["_version"] == 0
    rows, total = tx.query(schema, Criteria())
    assert total == 1 and rows[0]["id"] == "a1"
    tx.rollback()
    reader = db(model).begin()
    assert reader.get(schema, "a1") is None
    assert reader.query(schema, Criteria()) == ([], 0)


def test_saving_again_after_a_query_in_the_same_transaction(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "a1")), -1)
    tx.query(schema, Criteria())  # sends the pending write
    tx.save(schema, record(model, full_account(model, "a1", age=7)), -1)
    tx.commit()
    found = db(model).begin().get(schema, "a1")
    assert (found["age"], found["_version"]) == (7, 0)


def test_delete(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model)), -1)
    tx.commit()
    tx = db(model).begin()
    assert tx.delete(schema, "a1") is True
    assert tx.get(schema, "a1") is None
    tx.commit()
    tx = db(model).begin()
    assert tx.get(schema, "a1") is None
    assert tx.delete(schema, "a1") is False
    tx.commit()


def test_mark_processed_records_once(model):
    tx = db(model).begin()
    assert tx.mark_processed("sub", "m1") is True
    assert tx.mark_processed("sub", "m1") is False
    assert tx.mark_processed("other", "m1") is True
    tx.commit()
    tx = db(model).begin()
    assert tx.mark_processed("sub", "m1") is False
    tx.rollback()


def test_a_redelivery_racing_its_twin_fails_at_commit(model):
    first, twin = db(model).begin(), db(model).begin()
    assert first.mark_processed("sub", "m1") is True
    assert twin.mark_processed("sub", "m1") is True  # neither committed yet
    first.commit()
    with pytest.raises(DuplicateMessageError):
        twin.commit()


def test_rolled_back_processed_marks_are_forgotten(model):
    tx = db(model).begin()
    tx.mark_processed("sub", "m1")
    tx.rollback()
    assert db(model).begin().mark_processed("sub", "m1") is True


def test_setup_is_idempotent_and_truncate_empties(model):
    schema = model.schema(model.Account)
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model)), -1)
    tx.add_outbox(
        [
            {
                "message_id": "m",
                "stream": "s",
                "type": "T",
                "priority": 0,
                "correlation_id": None,
                "message": {"metadata": {}, "data": {}},
            }
        ]
    )
    tx.mark_processed("sub", "m1")
    tx.commit()
    model.domain.setup_database()
    assert db(model).begin().get(schema, "a1") is not None
    model.domain.truncate_database()
    assert db(model).begin().get(schema, "a1") is None
    assert db(model).outbox().pending_count() == 0
    assert db(model).begin().mark_processed("sub", "m1") is True


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_missing_tables_say_to_run_setup(model):
    schema = model.schema(model.Account)
    model.domain.drop_database()
    with pytest.raises(SchemaMissingError, match="archipel database setup"):
        db(model).begin().get(schema, "a1")
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model)), -1)
    with pytest.raises(SchemaMissingError, match="archipel database setup"):
        tx.commit()
    with pytest.raises(SchemaMissingError, match="archipel database setup"):
        model.domain.event_store.read_all()
    model.domain.setup_database()
    assert db(model).begin().get(schema, "a1") is None


# --- several writes in one transaction (one statement on PostgreSQL) -------------------------


def committed(model, *writes, processed=None):
    tx = db(model).begin()
    if processed:
        assert tx.mark_processed(*processed) is True
    for schema, rec, expected in writes:
        tx.save(schema, rec, expected)
    tx.commit()


def test_a_stale_update_among_several_writes_keeps_none_of_them(model):
    schema = model.schema(model.Account)
    first = record(model, full_account(model, "a1"))
    committed(model, (schema, first, -1))
    committed(model, (schema, {**first, "age": 50}, 0))  # now at version 1

    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "new", email="new@x")), -1)
    tx.save(schema, {**first, "age": 99}, 0)  # stale
    tx.add_outbox(
        [
            {
                "message_id": "m",
                "stream": "s",
                "type": "T",
                "priority": 0,
                "correlation_id": None,
                "message": {},
            }
        ]
    )
    with pytest.raises(ExpectedVersionError) as caught:
        tx.commit()
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    reader = db(model).begin()
    assert reader.get(schema, "new") is None
    assert reader.get(schema, "a1")["age"] == 50
    assert db(model).outbox().pending_count() == 0


def test_a_redelivered_message_with_writes_keeps_none_of_them(model):
    schema = model.schema(model.Account)
    committed(
        model, (schema, record(model, full_account(model, "a1")), -1), processed=("sub", "m1")
    )
    first, twin = db(model).begin(), db(model).begin()
    assert first.mark_processed("sub", "m2") is True
    assert twin.mark_processed("sub", "m2") is True
    first.save(schema, record(model, full_account(model, "b1", email="b1@x")), -1)
    twin.save(schema, record(model, full_account(model, "b2", email="b2@x")), -1)
    first.commit()
    with pytest.raises(DuplicateMessageError):
        twin.commit()
    reader = db(model).begin()
    assert reader.get(schema, "b1") is not None
    assert reader.get(schema, "b2") is None


def test_a_unique_value_taken_in_a_transaction_of_several_writes(model):
    schema = model.schema(model.Account)
    committed(model, (schema, record(model, full_account(model, "a1", email="same@x")), -1))
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "a2", email="free@x")), -1)
    tx.save(schema, record(model, full_account(model, "a3", email="same@x")), -1)
    with pytest.raises(ValidationError) as caught:
        tx.commit()
    assert "email" in caught.value.messages
    assert db(model).begin().get(schema, "a2") is None


def test_updates_and_deletes_together(model):
    schema = model.schema(model.Account)
    committed(
        model,
        (schema, record(model, full_account(model, "a1")), -1),
        (schema, record(model, full_account(model, "a2", email="a2@x")), -1),
    )
    tx = db(model).begin()
    tx.save(schema, record(model, full_account(model, "a1", age=1)), 0)
    assert tx.delete(schema, "a2") is True
    tx.save(schema, record(model, full_account(model, "a3", email="a3@x")), -1)
    tx.commit()
    reader = db(model).begin()
    assert reader.get(schema, "a1")["_version"] == 1
    assert reader.get(schema, "a2") is None
    assert reader.get(schema, "a3")["_version"] == 0


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_a_batch_marks_many_messages_processed_at_once(model):
    tx = db(model).begin()
    assert tx.mark_processed("sub", "m0") is True
    tx.commit()
    batch = db(model).begin()
    ids = [f"m{i}" for i in range(600)] + ["m5"]  # more than one query's worth, one twice
    flags = batch.mark_processed_many("sub", ids)
    assert flags[0] is False  # recorded before
    assert all(flags[1:600]) and flags[600] is False  # m5 twice in the batch
    assert batch.mark_processed("sub", "m7") is False
    batch.commit()
    later = db(model).begin()
    assert later.mark_processed_many("sub", ["m1", "m599", "new"]) == [False, False, True]
    later.rollback()


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_a_batch_racing_a_twin_fails_at_commit(model):
    first, twin = db(model).begin(), db(model).begin()
    assert first.mark_processed_many("sub", ["a", "b", "c"]) == [True, True, True]
    assert twin.mark_processed_many("sub", ["x", "b", "y"]) == [True, True, True]
    first.commit()
    with pytest.raises(DuplicateMessageError, match="message b"):
        twin.commit()
    assert db(model).begin().mark_processed_many("sub", ["x", "y"]) == [True, True]


def test_new_rows_sent_together_still_name_the_one_that_exists(make_domain):
    """Several new rows of a table go in one ``executemany``; a conflict names the right one."""
    from archipel import BaseAggregate
    from archipel.fields import Identifier, String

    domain = make_domain()

    @domain.aggregate
    class Item(BaseAggregate):
        item_id = Identifier(identifier=True)
        text = String(max_length=20)

    start(domain)
    with domain.domain_context():
        database = domain.providers.database()
        schema = domain.schema_for(Item)
        tx = database.begin()
        tx.save(schema, {"item_id": "i2", "text": "first"}, -1)
        tx.commit()
        tx = database.begin()
        for name in ("i1", "i2", "i3"):
            tx.save(schema, {"item_id": name, "text": "again"}, -1)
        with pytest.raises(ExpectedVersionError, match="i2") as caught:
            tx.commit()
        assert "already exists" in str(caught.value)
        reader = database.begin()
        assert reader.get(schema, "i1") is None and reader.get(schema, "i3") is None
        assert reader.get(schema, "i2")["text"] == "first"
        tx = database.begin()
        for name in ("i1", "i3", "i4"):
            tx.save(schema, {"item_id": name, "text": "new"}, -1)
        tx.commit()
        found = [database.begin().get(schema, n) for n in ("i1", "i3", "i4")]
        assert [(row["text"], row["_version"]) for row in found] == [("new", 0)] * 3


def test_new_rows_of_every_field_kind_sent_together_read_back_the_same(make_domain):
    """A run of new rows is one statement (PostgreSQL: INSERT ... SELECT FROM unnest of
    column arrays); every kind of value, and None, comes back as it went in."""
    import datetime as dt
    import decimal

    from archipel import BaseProjection
    from archipel.fields import (
        Boolean,
        Date,
        DateTime,
        Decimal,
        Dict,
        Float,
        Identifier,
        Integer,
        List,
        String,
        Text,
    )

    domain = make_domain()

    @domain.projection
    class Wide(BaseProjection):
        wide_id = Identifier(identifier=True)
        name = String(max_length=20)
        body = Text()
        count = Integer()
        ratio = Float()
        price = Decimal()
        flag = Boolean()
        day = Date()
        moment = DateTime()
        tags = List(content_type=String)
        extra = Dict()

    start(domain)
    rows = [
        Wide(wide_id=f"w{i}", name=f"n{i}", body="é" * i, count=i, ratio=i / 3, price=f"{i}.25",
             flag=i % 2 == 0, day=dt.date(2024, 1, 1 + i), moment=dt.datetime(2024, 1, 1, i, tzinfo=dt.UTC),
             tags=["a", str(i)], extra={"i": i, "nested": [1, None, "x"]})
        for i in range(5)
    ] + [Wide(wide_id="empty")]
    with domain.domain_context():
        domain.run_in_unit_of_work(lambda uow: [domain.repository_for(Wide).add(r) for r in rows])
        repo = domain.repository_for(Wide)
        for row in rows:
            back = repo.get(row.wide_id)
            assert back.to_dict() == row.to_dict()
        assert isinstance(repo.get("w3").price, decimal.Decimal)
        assert repo.get("empty").tags in (None, [])
