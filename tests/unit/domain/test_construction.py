"""``Domain`` is built every way Protean 0.18's documentation shows."""

from __future__ import annotations

import itertools

import pytest

from archipel import BaseAggregate, Domain
from archipel.errors import ConfigurationError, IncorrectUsageError
from archipel.fields import String

MEMORY = {
    "databases": {"default": {"provider": "memory"}},
    "brokers": {"default": {"provider": "inline"}},
    "event_store": {"provider": "memory"},
}


def test_without_arguments_the_name_is_the_creating_modules():
    domain = Domain(config=MEMORY)
    assert domain.name == __name__  # "tests.unit.domain.test_construction"
    # streams and type strings use its last part
    assert domain.normalized_name == "test_construction"
    assert domain.camel_case_name == "TestConstruction"


def test_protean_positional_order_is_root_path_name_config(tmp_path):
    (tmp_path / "domain.toml").write_text('event_processing = "async"\n')
    domain = Domain(str(tmp_path), "Shop", {"enable_outbox": True})
    assert domain.name == "Shop"
    assert domain.root_path == str(tmp_path)
    assert domain.config["event_processing"] == "async"  # read from the folder
    assert domain.config["enable_outbox"] is True  # the dict overrides the file


def test_keyword_construction(tmp_path):
    domain = Domain(name="Billing", config=MEMORY, root_path=str(tmp_path))
    assert (domain.name, domain.camel_case_name, domain.normalized_name) == ("Billing", "Billing", "billing")


def test_domain_root_path_environment_variable(tmp_path, monkeypatch):
    (tmp_path / "domain.toml").write_text('command_processing = "async"\n')
    monkeypatch.setenv("DOMAIN_ROOT_PATH", str(tmp_path))
    assert Domain(name="Env").config["command_processing"] == "async"


def test_identity_function_generates_undeclared_identities():
    counter = itertools.count(1)
    domain = Domain(name="Ids", config=MEMORY, identity_function=lambda: f"id-{next(counter)}")

    @domain.aggregate
    class Ticket(BaseAggregate):
        title = String()

    domain.init(traverse=False)
    assert [Ticket(title="a").id, Ticket(title="b").id] == ["id-1", "id-2"]
    assert Ticket(id="mine", title="c").id == "mine"


def test_identity_strategy_function_without_a_function_is_a_configuration_error():
    domain = Domain(name="NoIds", config={**MEMORY, "identity_strategy": "function"})
    with pytest.raises(ConfigurationError, match="identity_function"):
        domain.init(traverse=False)


def test_identity_function_must_be_callable():
    with pytest.raises(ConfigurationError, match="identity_function"):
        Domain(name="Bad", identity_function="uuid")  # type: ignore[arg-type]


def test_every_documented_method_exists():
    for method in (
        "register", "init", "domain_context", "process", "repository_for", "query_for", "dispatch",
        "upcaster", "register_external_event", "create_snapshot", "create_snapshots",
        "create_all_snapshots", "rebuild_projection", "rebuild_all_projections",
        "setup_database", "drop_database", "truncate_database", "close",
    ):
        assert callable(getattr(Domain, method)), method


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("create_snapshot", (BaseAggregate, "x")),
        ("create_snapshots", (BaseAggregate,)),
        ("create_all_snapshots", ()),
        ("rebuild_projection", (object,)),
        ("rebuild_all_projections", ()),
    ],
)
def test_event_lifecycle_methods_not_yet_available_say_so(method, args):
    domain = Domain(name="Later", config=MEMORY)
    with pytest.raises(IncorrectUsageError, match="porting.md"):
        getattr(domain, method)(*args)


def test_root_path_may_be_the_creating_file(tmp_path):
    (tmp_path / "domain.toml").write_text('enable_outbox = true\n')
    module_file = tmp_path / "shop.py"
    module_file.write_text("")
    domain = Domain(str(module_file), "Shop")
    assert domain.config["enable_outbox"] is True
