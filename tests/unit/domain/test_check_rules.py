"""``Domain.check()``'s lint rules against Protean 0.18's: one program, renamed, two reports.

The same domain source runs once with ``protean`` and once with ``archipel``
(the porting rule: rename the package), in a module of the same name, and the
two reports must list the same findings: code, element, level, field and
message. Protean is installed beside archipel for this (the ``bench`` extra).
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from pathlib import Path

import pytest

from archipel.errors import ConfigurationError

protean = pytest.importorskip("protean", reason="the bench extra installs Protean 0.18")

HEADER = """
from PKG import Domain, handle, invariant, apply
from PKG.core.aggregate import BaseAggregate
from PKG.core.entity import BaseEntity
from PKG.core.value_object import BaseValueObject
from PKG.core.command import BaseCommand
from PKG.core.command_handler import BaseCommandHandler
from PKG.core.event import BaseEvent
from PKG.core.event_handler import BaseEventHandler
from PKG.core.projection import BaseProjection
from PKG.core.projector import BaseProjector
from PKG.core.process_manager import BaseProcessManager
from PKG.core.query import BaseQuery
from PKG.core.query_handler import BaseQueryHandler
from PKG.fields import Identifier, Integer, String, Text, List, Dict, Reference, ValueObject, HasMany
from PKG.core.index import Index
"""

#: a shop that breaks most of the rules once
SHOP = """
domain = Domain(name="Shop", config=CONFIG)

@domain.value_object(part_of="Order")
class Address(BaseValueObject):
    street = String()
    lines = List(content_type=String)

@domain.aggregate(indexes=[Index("notes", name="ix_notes")])
class Order(BaseAggregate):
    order_id = Identifier(identifier=True)
    notes = Text()
    buyer = Reference("Customer")
    address = ValueObject(Address)

    @invariant.post
    def has_id(self):
        pass

@domain.entity(part_of=Order)
class Line(BaseEntity):
    sku = String()

@domain.aggregate
class Customer(BaseAggregate):
    customer_id = Identifier(identifier=True)
    last_order = Reference(Order)

@domain.aggregate
class Processing(BaseAggregate):
    name = String()

@domain.command(part_of=Order)
class PlaceOrder(BaseCommand):
    order_id = Identifier()

@domain.command(part_of=Order)
class OrderCreation(BaseCommand):
    order_id = Identifier()

@domain.command(part_of=Processing)
class StartProcessing(BaseCommand):
    name = String()

@domain.event(part_of=Order)
class OrderPlaced(BaseEvent):
    order_id = Identifier()

@domain.event(part_of=Order)
class Pinged(BaseEvent):
    pass

@domain.event(part_of=Order, published=True)
class OrderShipped(BaseEvent):
    order_id = Identifier()

@domain.event(part_of=Order, version=2)
class OrderRepriced(BaseEvent):
    order_id = Identifier()

@domain.event(part_of=Order, deprecated="0.15", superseded_by="OrderPlaced")
class OrderNoted(BaseEvent):
    order_id = Identifier()

@domain.command(part_of=Order, deprecated={"since": "0.2", "removal": "0.5"})
class PlaceRushOrder(BaseCommand):
    order_id = Identifier()

@domain.event(part_of=Customer)
class CustomerRenaming(BaseEvent):
    name = String()

@domain.command_handler(part_of=Order)
class Orders(BaseCommandHandler):
    @handle(PlaceOrder)
    def place(self, command):
        pass

@domain.command_handler(part_of=Processing)
class Processes(BaseCommandHandler):
    @handle(StartProcessing)
    def start(self, command):
        pass

@domain.event_handler(part_of=Customer)
class CustomerReactions(BaseEventHandler):
    @handle(OrderPlaced)
    def placed(self, event):
        pass

    @handle(OrderRepriced)
    def repriced(self, event):
        pass

    @handle(CustomerRenaming)
    def renaming(self, event):
        pass

@domain.event(part_of="Ledger")
class LedgerOpened(BaseEvent):
    ledger_id = Identifier()

@domain.event(part_of="Ledger")
class LedgerClosed(BaseEvent):
    ledger_id = Identifier()

@domain.aggregate(event_sourced=True)
class Ledger(BaseAggregate):
    ledger_id = Identifier(identifier=True)

    @invariant.pre
    def open(self):
        pass

    @apply
    def opened(self, event: LedgerOpened):
        pass

@domain.aggregate(event_sourced=True)
class Journal(BaseAggregate):
    journal_id = Identifier(identifier=True)

@domain.projection
class Totals(BaseProjection):
    order_id = Identifier(identifier=True)
    count = Integer(default=0)

@domain.projection
class Empty(BaseProjection):
    key = Identifier(identifier=True)

@domain.query_handler(part_of=Totals)
class TotalsQueries(BaseQueryHandler):
    pass

@domain.projector(projector_for=Totals, aggregates=[Order])
class TotalsProjector(BaseProjector):
    @handle(OrderPlaced)
    def placed(self, event):
        pass

    @handle(Pinged)
    def pinged(self, event):
        pass

@domain.process_manager(stream_categories=["shop::order"])
class Fulfilment(BaseProcessManager):
    order_id = Identifier()

    @handle(OrderShipped, start=True, correlate="order_id")
    def shipped(self, event):
        pass
"""


def report_of(pkg: str, source: str, config: dict) -> dict:
    return domain_of(pkg, source, config).check(traverse=False)


def domain_of(pkg: str, source: str = SHOP, config: dict | None = None):
    """The domain ``source`` declares, built with ``pkg`` (``protean`` or ``archipel``)."""
    module = types.ModuleType("lintshop")
    module.CONFIG = config or {}
    sys.modules["lintshop"] = module
    try:
        code = textwrap.dedent(HEADER + source).replace("PKG", pkg)
        exec(compile(code, "lintshop.py", "exec"), module.__dict__)  # noqa: S102 - test source
        return module.domain
    finally:
        del sys.modules["lintshop"]


def findings(report: dict) -> list[tuple]:
    return [
        (d["code"], d["element"], d["level"], d.get("field"), d["message"], d.get("category"))
        for d in report["diagnostics"]
    ]


def both(source: str, config: dict | None = None) -> tuple[dict, dict]:
    return report_of("protean", source, config or {}), report_of("archipel", source, config or {})


def test_the_shop_gets_protean_s_findings_in_protean_s_order():
    theirs, ours = both(SHOP)
    assert theirs["errors"] == [] and ours["errors"] == []
    # archipel names its own setting for published events' broker ([integration] broker)
    mine = [f if f[0] != "PUBLISHED_NO_EXTERNAL_BROKER" else f[:4] for f in findings(ours)]
    expected = [f if f[0] != "PUBLISHED_NO_EXTERNAL_BROKER" else f[:4] for f in findings(theirs)]
    assert mine == expected
    assert ours["counts"] == theirs["counts"] and ours["status"] == theirs["status"] == "warn"
    codes = {f[0] for f in mine}
    assert len(codes) >= 18  # the shop breaks most rules: the comparison is not vacuous


def test_each_finding_carries_the_rule_and_a_suggestion():
    _theirs, ours = both(SHOP)
    for item in ours["diagnostics"]:
        assert item["rule"]["rationale"] and item["rule"]["fix"]
        assert item["suggestion"]
        assert "protean" not in str(item).lower()


def test_lint_limits_and_suppressions_apply_as_in_protean():
    config = {"lint": {
        "aggregate_size_limit": 0,
        "handler_breadth_limit": 1,
        "suppressions": {"UNHANDLED_EVENT": 1, "AGGREGATE_NO_INVARIANTS": 5},
    }}
    theirs, ours = both(SHOP, config)
    strip = [f[:4] for f in findings(theirs)]
    assert [f[:4] for f in findings(ours)] == strip
    codes = [f[0] for f in strip]
    assert "AGGREGATE_TOO_LARGE" in codes and "HANDLER_TOO_BROAD" in codes
    assert "AGGREGATE_NO_INVARIANTS" not in codes


def test_an_element_silences_its_own_codes_with_suppress_checks():
    source = SHOP.replace(
        "@domain.aggregate\nclass Customer(BaseAggregate):",
        '@domain.aggregate(suppress_checks=["AGGREGATE_WITHOUT_COMMAND_HANDLER", "AGGREGATE_NO_INVARIANTS"])\n'
        "class Customer(BaseAggregate):",
    ).replace("@domain.projection\nclass Empty(", "@domain.projection(externally_populated=True)\nclass Empty(")
    theirs, ours = both(source)
    assert [f[:4] for f in findings(ours)] == [f[:4] for f in findings(theirs)]
    silenced = {(f[0], f[1]) for f in findings(ours)}
    assert ("AGGREGATE_WITHOUT_COMMAND_HANDLER", "lintshop.Customer") not in silenced
    assert ("PROJECTION_WITHOUT_PROJECTOR", "lintshop.Empty") not in silenced


@pytest.mark.parametrize(
    ("lint", "message"),
    [
        (5, "[lint] must be a table"),
        ({"level": "loud"}, "Invalid [lint].level: 'loud'"),
        ({"rules": "mine.rule"}, "[lint].rules must be a list"),
        ({"aggregate_size_limit": -1}, "[lint].aggregate_size_limit must be a non-negative integer"),
        ({"suppressions": {"UNUSED_COMMAND": True}}, "[lint].suppressions.UNUSED_COMMAND must be"),
        ({"suppress": {}}, "[lint]: unknown key(s) suppress; allowed:"),
    ],
)
def test_a_malformed_lint_table_is_an_error_naming_the_key(lint, message):
    with pytest.raises(ConfigurationError) as caught:
        report_of("archipel", SHOP, {"lint": lint})
    assert message in str(caught.value)


def custom_rule(ir):
    """A user's rule over Protean's IR: one finding per aggregate, and some malformed items."""
    return [
        {"code": "MY_RULE", "element": cluster["aggregate"]["fqn"], "level": "info", "message": "mine"}
        for cluster in ir["clusters"].values()
    ] + [{"code": "BAD"}, {"code": "X", "element": "e", "level": "fatal", "message": "m"}]


def test_custom_rules_add_findings_and_bad_items_are_skipped(caplog):
    ours = report_of("archipel", SHOP, {"lint": {"rules": [f"{__name__}.custom_rule", "no.such.rule"]}})
    mine = [d for d in ours["diagnostics"] if d["code"] == "MY_RULE"]
    assert {d["element"] for d in mine} == {"lintshop.Order", "lintshop.Customer", "lintshop.Processing",
                                            "lintshop.Ledger", "lintshop.Journal"}
    assert all(d["category"] == "custom" for d in mine)
    theirs = report_of("protean", SHOP, {"lint": {"rules": [f"{__name__}.custom_rule"]}})
    assert sorted(d["element"] for d in theirs["diagnostics"] if d["code"] == "MY_RULE") == sorted(
        d["element"] for d in mine)  # the same rule reads Protean's IR and archipel's alike
    assert not [d for d in ours["diagnostics"] if d["code"] in ("BAD", "X")]
    assert "no.such.rule" in caplog.text


GHOST = '''    @handle("Shop.Ghost.v1")
    def ghost(self, event):
        pass

    @handle(Pinged)
'''


def test_a_projector_of_a_type_the_domain_does_not_register_is_flagged():
    ours = report_of("archipel", SHOP.replace("    @handle(Pinged)\n", GHOST), {})
    [ghost] = [d for d in ours["diagnostics"] if d["code"] == "PROJECTOR_HANDLES_ORPHANED_EVENT"]
    assert ghost["element"] == "lintshop.TotalsProjector" and "`Shop.Ghost.v1`" in ghost["message"]


@pytest.mark.parametrize("value", [5, {"until": "1.0"}])
def test_a_bad_deprecated_option_is_an_error(value):
    source = SHOP.replace('deprecated="0.15"', f"deprecated={value!r}")
    with pytest.raises(ConfigurationError, match="deprecated="):
        report_of("archipel", source, {})


def test_fetch_element_cls_from_registry_finds_by_name_and_qualified_name_as_protean():
    from archipel.utils import DomainObjects

    theirs = domain_of("protean")
    ours = domain_of("archipel")
    for domain, objects in ((theirs, __import__("protean.utils", fromlist=["x"]).DomainObjects),
                            (ours, DomainObjects)):
        order = domain.fetch_element_cls_from_registry("Order", (objects.AGGREGATE,))
        assert order.__name__ == "Order"
        assert domain.fetch_element_cls_from_registry("lintshop.Order", (objects.AGGREGATE,)) is order
    assert ours.fetch_element_cls_from_registry(order, (DomainObjects.AGGREGATE,)) is order
    with pytest.raises(ConfigurationError, match="'Order' is not registered among command"):
        ours.fetch_element_cls_from_registry("Order", (DomainObjects.COMMAND,))



# -- the rules that read the domain's source --------------------------------------------------------

SOURCE_RULES = {"UNRAISED_EVENT", "UNSOURCED_PROJECTION_FIELD", "UNINDEXED_FILTER_PATH",
                "HANDLER_PERSISTS_AND_CALLS_OUT", "INFRA_IMPORT_IN_DOMAIN", "ADAPTER_CALL_IN_DOMAIN"}
#: a program whose methods raise, invoke, filter, write projections and call out (the IR oracle's)
MARKET = (Path(__file__).parents[1] / "ir" / "oracle_source.txt").read_text()


def report_from_file(tmp_path: Path, pkg: str, code: str, config: dict | None = None) -> dict:
    """check() of the domain ``code`` declares, imported from a file (so its source can be read)
    as module ``srcshop`` (the same name under both frameworks)."""
    folder = tmp_path / pkg
    folder.mkdir()
    (folder / "srcshop.py").write_text(code.replace("PKG", pkg).replace("FRAMEWORK", pkg))
    sys.path.insert(0, str(folder))
    try:
        importlib.invalidate_caches()
        module = importlib.import_module("srcshop")
        if config is not None:
            module.domain.config["lint"] = config
        return module.domain.check(traverse=False)
    finally:
        sys.modules.pop("srcshop", None)
        sys.path.remove(str(folder))


def both_from_files(tmp_path: Path, code: str, config: dict | None = None) -> tuple[list, list]:
    theirs = report_from_file(tmp_path, "protean", code, config)
    ours = report_from_file(tmp_path, "archipel", code, config)
    assert theirs["errors"] == [] and ours["errors"] == []
    neutral = [
        tuple(str(v).replace("archipel.adapters", "protean.adapters") if isinstance(v, str) else v for v in f)
        for f in findings(ours)
    ]
    return [f if f[0] != "PUBLISHED_NO_EXTERNAL_BROKER" else f[:4] for f in findings(theirs)], [
        f if f[0] != "PUBLISHED_NO_EXTERNAL_BROKER" else f[:4] for f in neutral]


def test_the_shop_read_from_its_file_gets_protean_s_source_findings_too(tmp_path):
    shop = textwrap.dedent(HEADER + SHOP).replace("CONFIG", "{}")
    expected, mine = both_from_files(tmp_path, shop)
    assert mine == expected
    unraised = {f[1] for f in mine if f[0] == "UNRAISED_EVENT"}
    assert "srcshop.OrderPlaced" in unraised  # no method of the shop raises anything


def test_every_source_rule_fires_as_in_protean(tmp_path):
    expected, mine = both_from_files(tmp_path, MARKET.replace("d = Domain(", "domain = d = Domain("))
    assert mine == expected
    assert {f[0] for f in mine} >= SOURCE_RULES


def test_the_source_rules_heed_suppressions_and_their_opt_in_flags_as_in_protean(tmp_path):
    config = {"suppressions": {"UNINDEXED_FILTER_PATH": 2, "UNRAISED_EVENT": 1}}  # flags off
    expected, mine = both_from_files(tmp_path, MARKET.replace("d = Domain(", "domain = d = Domain("), config)
    assert mine == expected
    codes = [f[0] for f in mine]
    assert "INFRA_IMPORT_IN_DOMAIN" not in codes and "ADAPTER_CALL_IN_DOMAIN" not in codes
    assert codes.count("UNINDEXED_FILTER_PATH") == 3 and "UNRAISED_EVENT" not in codes
