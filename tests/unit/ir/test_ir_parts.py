"""The parts of :mod:`archipel.ir`: fields the IR cannot describe, bounds, the checksum,
``.archipel/config.toml`` and the upcaster-chain rule."""

from __future__ import annotations

import decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel import Domain
from archipel.fields import Decimal, Field, Integer, String
from archipel.ir.builder import IRBuilder, compute_checksum
from archipel.ir.config import CompatConfig, load_config
from archipel.ir.constants import canonical_ir, canonical_ir_json
from archipel.ir.fields import IRError, field_ir
from archipel.ir.replay import missing_source_versions


def test_a_field_class_the_ir_does_not_know_is_an_error_naming_it():
    class Colour(Field):
        pass

    domain = Domain(name="Paint")

    @domain.aggregate
    class Pot:
        colour = Colour()

    domain.init(traverse=False)
    with pytest.raises(IRError, match=r"field 'colour' is a Colour, which the IR cannot describe"):
        IRBuilder(domain).build()


def test_bounds_are_json_numbers_except_a_decimal_field_s():
    price = Decimal(min_value=decimal.Decimal("0.50"), max_digits=6, decimal_places=2)
    price.name = "price"
    entry = field_ir(price)
    assert entry["min_value"] == "0.50" and "max_value" not in entry
    count = Integer(min_value=0, max_value=10)
    count.name = "count"
    assert field_ir(count) == {"kind": "standard", "max_value": 10, "min_value": 0, "type": "Integer"}


def test_a_required_string_with_a_default_is_not_required_but_keeps_its_bound():
    name = String(required=True, default="x")
    name.name = "name"
    assert field_ir(name) == {"default": "x", "kind": "standard", "max_length": 255, "min_length": 1,
                              "type": "String"}


@given(st.dictionaries(st.sampled_from(["$schema", "ir_version", "generated_at", "checksum", "elements"]),
                       st.text(max_size=5)))
def test_the_checksum_ignores_exactly_the_volatile_keys(volatile):
    content = {"clusters": {"a": 1}, "domain": {"name": "X"}}
    assert compute_checksum({**content, **volatile}) == compute_checksum(content)
    assert compute_checksum({**content, "flows": {}}) != compute_checksum(content)


def test_canonical_drops_only_the_timestamp():
    ir = {"generated_at": "t", "checksum": "c", "b": 1, "a": 2}
    assert canonical_ir(ir) == {"checksum": "c", "b": 1, "a": 2}
    assert canonical_ir_json(ir).splitlines()[1] == '  "a": 2,'


# -- config.toml ----------------------------------------------------------------------------

def test_no_config_file_means_the_defaults(tmp_path: Path):
    assert load_config(tmp_path) == CompatConfig()
    assert CompatConfig().strictness == "strict" and CompatConfig().staleness_enabled


def test_a_full_config_is_read(tmp_path: Path):
    (tmp_path / "config.toml").write_text(
        '[compatibility]\nstrictness = "warn"\nexclude = ["a.B"]\n'
        "[compatibility.deprecation]\nmin_versions_before_removal = 2\n"
        '[staleness]\nenabled = false\n[domains]\nshop = "app.shop"\n'
    )
    config = load_config(tmp_path)
    assert config == CompatConfig("warn", ("a.B",), 2, False, {"shop": "app.shop"})
    assert config.is_excluded("a.B") and not config.is_excluded("a.C")


@pytest.mark.parametrize(("text", "message"), [
    ("[compatibility\n", "Invalid TOML"),
    ('[compatibility]\nstrictness = "loose"\n', "Invalid strictness value: 'loose'. Must be one of: off, strict, warn"),
    ("[compatibility]\nexclude = 3\n", "compatibility.exclude must be a list of strings"),
    ("[compatibility.deprecation]\nmin_versions_before_removal = 0\n", "must be a positive integer"),
    ('[staleness]\nenabled = "yes"\n', "staleness.enabled must be a boolean"),
    ("[domains]\nshop = 1\n", "domains entries must be string key-value pairs"),
    ("compatibility = 1\n", "compatibility must be a TOML table, not int"),
    ("[linting]\n", "unknown key(s) linting in the top level; allowed: compatibility, domains, staleness"),
    ("[staleness]\nenable = true\n", "unknown key(s) enable in [staleness]; allowed: enabled"),
])
def test_a_malformed_config_is_an_error_naming_the_key(tmp_path: Path, text: str, message: str):
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ValueError, match=None) as raised:
        load_config(tmp_path)
    assert message in str(raised.value)


# -- the upcaster chain rule, against Protean's ---------------------------------------------

@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 7)), max_size=6), st.integers(1, 7))
def test_missing_source_versions_is_protean_s(edges, target):
    upcasting = pytest.importorskip("protean.utils.upcasting")
    chain = [(a, b) for a, b in edges if a < b]
    assert missing_source_versions(chain, target) == sorted(upcasting.missing_upcaster_source_versions(chain, target))


# -- the builder on its own (the oracle tests need Protean; these do not) ------------------------

@pytest.fixture(scope="module")
def shop_ir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import importlib
    import sys
    import warnings

    folder = tmp_path_factory.mktemp("ir_parts")
    source = (Path(__file__).parent / "oracle_domain.txt").read_text().replace("FRAMEWORK", "archipel")
    (folder / "ir_parts_shop.py").write_text(source)
    sys.path.insert(0, str(folder))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module("ir_parts_shop")
        module.d.init(traverse=False)
    finally:
        sys.path.remove(str(folder))
    first = IRBuilder(module.d).build()
    assert IRBuilder(module.d).build()["checksum"] == first["checksum"]  # deterministic
    return first


def test_the_builder_places_every_element(shop_ir):
    from archipel.ir.diff import diff_ir

    order = shop_ir["clusters"]["ir_parts_shop.Order"]
    assert set(order["entities"]) == {"ir_parts_shop.Line"}
    assert order["entities"]["ir_parts_shop.Line"]["fields"]["order"] == {
        "auto_generated": True, "kind": "reference", "linked_attribute": "id", "target": "ir_parts_shop.Order"}
    assert order["value_objects"]["ir_parts_shop.Money"]["part_of"] == "ir_parts_shop.Order"
    assert order["events"]["ir_parts_shop.OrderShipped"]["__type__"] == "Shop.OrderShipped.v2"
    assert order["aggregate"]["invariants"] == {"post": ["total_positive"], "pre": ["not_cancelled"]}
    assert order["event_handlers"]["ir_parts_shop.OrderEvents"]["handlers"] == {
        "Shop.OrderPlaced.v1": ["on_placed"], "Shop.OrderShipped.v2": ["on_shipped"]}
    assert [c["type"] for c in shop_ir["contracts"]["events"]] == ["Shop.OrderPlaced.v1"]
    fact = shop_ir["clusters"]["ir_parts_shop.Customer"]["events"]["ir_parts_shop.CustomerFactEvent"]
    assert fact["is_fact_event"] and fact["auto_generated"]
    assert shop_ir["upcasters"] == {"OrderShipped": [{"from_version": 1, "to_version": 2}]}
    group = shop_ir["projections"]["ir_parts_shop.OrderSummary"]
    assert set(group["projectors"]) == {"ir_parts_shop.OrderSummaryProjector"}
    assert group["query_handlers"]["ir_parts_shop.OrderSummaryQueries"]["handlers"] == {
        "Shop.OrdersByStatus": ["by_status"]}
    assert shop_ir["flows"]["domain_services"]["ir_parts_shop.Pricing"]["part_of"] == [
        "ir_parts_shop.Customer", "ir_parts_shop.Order"]
    assert diff_ir(shop_ir, shop_ir)["summary"]["has_changes"] is False


def test_the_builder_s_ir_validates_against_the_vendored_schema(shop_ir):
    jsonschema = pytest.importorskip("jsonschema")
    from archipel.ir import load_schema

    jsonschema.Draft202012Validator(load_schema()).validate(shop_ir)
