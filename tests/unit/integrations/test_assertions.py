"""``archipel.testing.assert_chain`` and ``assert_snapshot`` (Protean's ``protean.testing``)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, BaseEvent, handle
from archipel.errors import IncorrectUsageError
from archipel.fields import Identifier, String
from archipel.testing import assert_chain, assert_snapshot
from archipel.utils.globals import current_domain


def _ordering(domain):
    @domain.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)
        customer = String()

    @domain.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier()

    @domain.command_handler(part_of=Order)
    class Orders(BaseCommandHandler):
        @handle(PlaceOrder)
        def place(self, command):
            order = Order(order_id=command.order_id, customer="ada")
            order.raise_(OrderPlaced(order_id=command.order_id))
            current_domain.repository_for(Order).add(order)

    domain.init(traverse=False)
    return Order, OrderPlaced, PlaceOrder


def test_assert_chain_accepts_the_chain_by_type_strings_or_classes(make_domain):
    domain = make_domain("Chains")
    Order, OrderPlaced, PlaceOrder = _ordering(domain)
    with domain.domain_context():
        domain.setup_database()
        domain.process(PlaceOrder(order_id="o1"), correlation_id="req-1")
        chain = domain.correlation_trace("req-1")

    assert_chain(chain, ["Chains.PlaceOrder.v1", "Chains.OrderPlaced.v1"])
    assert_chain(chain, [PlaceOrder, OrderPlaced])
    assert_chain(chain, [PlaceOrder, "Chains.OrderPlaced.v1"])


def test_assert_chain_names_the_first_difference_and_a_length_mismatch(make_domain):
    domain = make_domain("Chains")
    Order, OrderPlaced, PlaceOrder = _ordering(domain)
    with domain.domain_context():
        domain.setup_database()
        domain.process(PlaceOrder(order_id="o1"), correlation_id="req-1")
        chain = domain.correlation_trace("req-1")

    with pytest.raises(AssertionError, match="position 0: expected 'Chains.OrderPlaced.v1'"):
        assert_chain(chain, [OrderPlaced, PlaceOrder])
    with pytest.raises(AssertionError, match="has 2 messages, expected 1"):
        assert_chain(chain, [PlaceOrder])
    with pytest.raises(AssertionError, match="has 2 messages, expected 3"):
        assert_chain(chain, [PlaceOrder, OrderPlaced, OrderPlaced])
    with pytest.raises(AssertionError, match="has 0 messages, expected 1"):
        assert_chain([], [PlaceOrder])
    with pytest.raises(IncorrectUsageError, match="type strings"):
        assert_chain(chain, [42])


def _snapshot_in(folder: Path, obj, name: str, **options) -> None:
    """Call assert_snapshot from a test module living in ``folder`` (as a test there would)."""
    code = compile("assert_snapshot(obj, name, **options)", str(folder / "test_orders.py"), "exec")
    exec(code, {"assert_snapshot": assert_snapshot, "obj": obj, "name": name, "options": options})


def test_the_first_run_writes_the_snapshot_beside_the_test_and_later_runs_compare(tmp_path):
    state = {"id": "o1", "status": "placed", "total": decimal.Decimal("9.50")}
    _snapshot_in(tmp_path, state, "order")

    path = tmp_path / "__snapshots__" / "test_orders" / "order.json"
    assert json.loads(path.read_text()) == {"id": "o1", "status": "placed", "total": "9.50"}
    _snapshot_in(tmp_path, state, "order")  # the same state passes

    with pytest.raises(AssertionError) as failure:
        _snapshot_in(tmp_path, {**state, "status": "shipped"}, "order")
    assert '-  "status": "placed"' in str(failure.value)
    assert '+  "status": "shipped"' in str(failure.value)
    assert json.loads(path.read_text())["status"] == "placed"  # a failure rewrites nothing


def test_excluded_fields_are_left_out_of_the_snapshot(tmp_path):
    _snapshot_in(tmp_path, {"id": "a", "created_at": dt.datetime(2024, 1, 1), "status": "x"}, "s",
                 exclude=["id", "created_at"])
    _snapshot_in(tmp_path, {"id": "b", "created_at": dt.datetime(2025, 5, 5), "status": "x"}, "s",
                 exclude=["id", "created_at"])
    assert json.loads((tmp_path / "__snapshots__" / "test_orders" / "s.json").read_text()) == {"status": "x"}


def test_an_element_is_snapshotted_through_to_dict(make_domain, tmp_path):
    domain = make_domain("Snaps")
    Order, _, _ = _ordering(domain)
    _snapshot_in(tmp_path, Order(order_id="o9", customer="ada"), "element")
    stored = json.loads((tmp_path / "__snapshots__" / "test_orders" / "element.json").read_text())
    assert stored == Order(order_id="o9", customer="ada").to_dict()


def test_what_cannot_be_snapshotted_is_refused(tmp_path):
    with pytest.raises(TypeError, match="to_dict"):
        _snapshot_in(tmp_path, 42, "number")
    with pytest.raises(TypeError, match="cannot write object"):
        _snapshot_in(tmp_path, {"x": object()}, "opaque")
    for name in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(IncorrectUsageError, match="plain file stem"):
            _snapshot_in(tmp_path, {}, name)
    assert not (tmp_path.parent / "escape.json").exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.uuids(), st.dates())
def test_any_state_matches_its_own_snapshot(tmp_path, state, an_id, a_date):
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    full = {**state, "an_id": an_id, "a_date": a_date}
    _snapshot_in(folder, full, "state")
    _snapshot_in(folder, full, "state")


def test_update_snapshots_rewrites_them_in_a_pytest_run(tmp_path):
    (tmp_path / "test_snap.py").write_text(textwrap.dedent('''
        import os
        from archipel.testing import assert_snapshot

        def test_it():
            assert_snapshot({"status": os.environ["STATUS"]}, "state")
    '''))

    def run(status: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(tmp_path)],
            capture_output=True, text=True, cwd=tmp_path, env={**_env(), "STATUS": status},
        )

    assert run("new").returncode == 0
    failed = run("changed")
    assert failed.returncode == 1 and "update-snapshots" in failed.stdout
    assert run("changed", "--update-snapshots").returncode == 0
    assert run("changed").returncode == 0
    stored = tmp_path / "__snapshots__" / "test_snap" / "state.json"
    assert json.loads(stored.read_text()) == {"status": "changed"}


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "ARCHIPEL_UPDATE_SNAPSHOTS"}
