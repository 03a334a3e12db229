"""Unit tests for archipel.domain.config: files, precedence, overlays, ${VAR}, validation."""

from __future__ import annotations

import copy
import re
import sys
import textwrap
from pathlib import Path

import pytest

_SRC = str(Path(__file__).resolve().parents[2] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from archipel.domain.config import (  # noqa: E402
    DEFAULTS,
    Config,
    deep_merge,
    find_config_file,
    load_config,
    redact,
    validate_config,
)
from archipel.errors import ConfigurationError  # noqa: E402

PROVIDERS = {
    "database_providers": {"memory", "postgresql", "sqlite"},
    "broker_providers": {"inline", "redis"},
    "event_store_providers": {"memory", "message_db"},
}

# The seed's production reference: the processing lines after [brokers.default]
# belong to that table (TOML semantics).
SEED_PRODUCTION_TOML = """\
[databases.default]
provider = "postgresql"
database_uri = "${DATABASE_URL}"

[brokers.default]
provider = "redis"
url = "${REDIS_URL}"

event_processing = "async"
command_processing = "async"
enable_outbox = true

[event_store]
provider = "memory"

[server]
default_subscription_type = "stream"
messages_per_tick = 100
priority_lanes = true

[server.stream_subscription]
blocking_timeout_ms = 100
max_retries = 3
retry_delay_seconds = 1
enable_dlq = true
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def module_in(directory: Path) -> Path:
    """A stand-in for the domain module's ``__file__``."""
    return write(directory / "__init__.py", "")


# -- defaults and the Config type ----------------------------------------------


def test_defaults_without_file_or_overrides() -> None:
    config = load_config(environ={})
    assert isinstance(config, Config)
    assert config == DEFAULTS
    assert config.source is None
    assert config["databases"]["default"]["provider"] == "memory"
    assert config["brokers"]["default"]["provider"] == "inline"
    assert config["server"]["stream_subscription"]["max_retries"] == 3
    assert config["server"]["health_port"] is None
    assert config["custom"] == {}


def test_config_is_a_plain_dict_with_get_path() -> None:
    config = load_config(environ={})
    assert type(config["databases"]) is dict
    config["command_processing"] = "async"
    assert config["command_processing"] == "async"
    assert config.get_path("server.stream_subscription.max_retries") == 3
    assert config.get_path("server.nope.deeper", "fallback") == "fallback"
    assert config.get_path("command_processing.too_deep") is None


def test_directory_without_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(module_in(tmp_path / "a" / "b" / "c"), environ={})
    assert config == DEFAULTS


# -- finding the file -------------------------------------------------------


@pytest.mark.parametrize("name", [".domain.toml", "domain.toml"])
def test_each_file_name_is_found(tmp_path: Path, name: str) -> None:
    write(tmp_path / name, 'command_processing = "async"\n')
    config = load_config(module_in(tmp_path), environ={})
    assert config["command_processing"] == "async"
    assert config.source == (tmp_path / name).resolve()


def test_pyproject_tool_archipel_table_is_used(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """\
        [project]
        name = "shop"

        [tool.archipel]
        event_processing = "async"

        [tool.archipel.databases.default]
        provider = "sqlite"
        """,
    )
    config = load_config(module_in(tmp_path), environ={})
    assert config["event_processing"] == "async"
    assert config["databases"]["default"]["provider"] == "sqlite"
    assert "project" not in config and "tool" not in config


def test_pyproject_tool_protean_table_is_read_when_there_is_no_tool_archipel(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.protean]\nevent_processing = "async"\n')
    assert load_config(module_in(tmp_path), environ={})["event_processing"] == "async"
    write(
        tmp_path / "pyproject.toml",
        '[tool.protean]\nevent_processing = "async"\n[tool.archipel]\nevent_processing = "sync"\n',
    )
    assert load_config(module_in(tmp_path), environ={})["event_processing"] == "sync"  # archipel's wins
    write(tmp_path / "pyproject.toml", '[tool]\nprotean = 3\n')
    with pytest.raises(ConfigurationError, match="'tool.protean' must be a table"):
        load_config(module_in(tmp_path), environ={})


def test_an_environment_table_may_hold_logging_and_other_non_default_keys(tmp_path: Path) -> None:
    write(
        tmp_path / "domain.toml",
        '[logging]\nlevel = "INFO"\n[production.logging]\nformat = "json"\n'
        '[production.idempotency]\nttl = 60\n',
    )
    unused = load_config(module_in(tmp_path), environ={})
    assert "production" not in unused and unused["logging"] == {"level": "INFO"}
    validate_config(unused, **PROVIDERS)
    chosen = load_config(module_in(tmp_path), environ={"ARCHIPEL_ENV": "production"})
    assert chosen["logging"] == {"level": "INFO", "format": "json"}


def test_protean_env_selects_the_table_when_archipel_env_is_unset(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", 'event_processing = "sync"\n[prod]\nevent_processing = "async"\n')
    assert load_config(module_in(tmp_path), environ={"PROTEAN_ENV": "prod"})["event_processing"] == "async"
    both = {"PROTEAN_ENV": "prod", "ARCHIPEL_ENV": "none"}
    assert load_config(module_in(tmp_path), environ=both)["event_processing"] == "sync"


def test_pyproject_without_tool_archipel_is_ignored(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    write(tmp_path / "domain.toml", 'event_processing = "async"\n')
    found = find_config_file(tmp_path / "pkg")
    assert found is not None
    assert found[0] == (tmp_path / "domain.toml").resolve()


def test_lone_pyproject_without_tool_archipel_gives_defaults(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert find_config_file(tmp_path) is None
    assert load_config(module_in(tmp_path), environ={}) == DEFAULTS


def test_file_precedence_within_a_directory(tmp_path: Path) -> None:
    write(tmp_path / ".domain.toml", 'identity_type = "dot"\n')
    write(tmp_path / "domain.toml", 'identity_type = "plain"\n')
    write(tmp_path / "pyproject.toml", '[tool.archipel]\nidentity_type = "pyproject"\n')
    assert load_config(module_in(tmp_path), environ={})["identity_type"] == "dot"
    (tmp_path / ".domain.toml").unlink()
    assert load_config(module_in(tmp_path), environ={})["identity_type"] == "plain"
    (tmp_path / "domain.toml").unlink()
    assert load_config(module_in(tmp_path), environ={})["identity_type"] == "pyproject"


def test_nearer_directory_wins_over_better_name_further_up(tmp_path: Path) -> None:
    write(tmp_path / ".domain.toml", 'identity_type = "parent"\n')
    write(tmp_path / "pkg" / "pyproject.toml", '[tool.archipel]\nidentity_type = "near"\n')
    assert load_config(module_in(tmp_path / "pkg"), environ={})["identity_type"] == "near"


@pytest.mark.parametrize("depth", [1, 2])
def test_parent_directories_are_searched(tmp_path: Path, depth: int) -> None:
    write(tmp_path / "domain.toml", 'identity_type = "found"\n')
    start = tmp_path.joinpath(*["sub"] * depth)
    assert load_config(module_in(start), environ={})["identity_type"] == "found"


def test_three_levels_up_is_not_searched(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", 'identity_type = "too far"\n')
    start = tmp_path / "a" / "b" / "c"
    start.mkdir(parents=True)
    assert find_config_file(start) is None
    assert load_config(module_in(start), environ={})["identity_type"] == "string"


def test_domain_file_may_be_a_directory(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", 'identity_type = "dir"\n')
    assert load_config(tmp_path, environ={})["identity_type"] == "dir"
    assert load_config(str(tmp_path), environ={})["identity_type"] == "dir"


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "domain.toml", "[databases.default\nprovider = 'x'\n")
    with pytest.raises(ConfigurationError) as info:
        load_config(module_in(tmp_path), environ={})
    message = str(info.value)
    assert str(path.resolve()) in message
    assert "line 1" in message  # the parser's own message


def test_tool_archipel_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool]\narchipel = 1\n")
    with pytest.raises(ConfigurationError, match=r"tool\.archipel"):
        load_config(module_in(tmp_path), environ={})


# -- merging ----------------------------------------------------------------


def test_file_is_deep_merged_over_defaults_and_unknown_keys_kept(tmp_path: Path) -> None:
    write(
        tmp_path / "domain.toml",
        """\
        feature_flags = ["a", "b"]

        [databases.analytics]
        provider = "sqlite"

        [server.stream_subscription]
        max_retries = 7

        [payments]
        api_base = "https://pay.example"
        """,
    )
    config = load_config(module_in(tmp_path), environ={})
    assert config["databases"] == {
        "default": {"provider": "memory"},
        "analytics": {"provider": "sqlite"},
    }
    assert config["server"]["stream_subscription"]["max_retries"] == 7
    assert config["server"]["stream_subscription"]["enable_dlq"] is True
    assert config["server"]["messages_per_tick"] == 100
    assert config["payments"] == {"api_base": "https://pay.example"}
    assert config["feature_flags"] == ["a", "b"]


def test_overrides_win_and_deep_merge(tmp_path: Path) -> None:
    write(
        tmp_path / "domain.toml",
        """\
        command_processing = "async"
        [databases.default]
        provider = "postgresql"
        database_uri = "postgresql://localhost/app"
        schema = "shop"
        """,
    )
    overrides = {
        "command_processing": "sync",
        "databases": {"default": {"provider": "sqlite", "database_uri": "sqlite:///x.db"}},
        "server": {"stream_subscription": {"max_retries": 0}},
        "custom": {"answer": 42},
    }
    before = copy.deepcopy(overrides)
    config = load_config(module_in(tmp_path), overrides=overrides, environ={})
    assert config["command_processing"] == "sync"
    assert config["databases"]["default"] == {
        "provider": "sqlite",
        "database_uri": "sqlite:///x.db",
        "schema": "shop",
    }
    assert config["server"]["stream_subscription"] == {
        "blocking_timeout_ms": 100,
        "max_retries": 0,
        "retry_delay_seconds": 1,
        "enable_dlq": True,
    }
    assert config["custom"] == {"answer": 42}
    assert overrides == before
    config["custom"]["answer"] = 0
    assert overrides["custom"] == {"answer": 42}


def test_overrides_without_file() -> None:
    config = load_config(
        None, overrides={"brokers": {"default": {"provider": "redis"}}}, environ={}
    )
    assert config["brokers"]["default"] == {"provider": "redis"}


def test_deep_merge_replaces_non_tables_and_copies() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    overlay = {"a": {"c": [3]}, "d": {"e": 2}}
    merged = deep_merge(base, overlay)
    assert merged == {"a": {"b": 1, "c": [3]}, "d": {"e": 2}}
    merged["a"]["b"] = 99
    merged["d"]["e"] = 99
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert overlay == {"a": {"c": [3]}, "d": {"e": 2}}


def test_loading_never_mutates_defaults(tmp_path: Path) -> None:
    snapshot = copy.deepcopy(DEFAULTS)
    write(
        tmp_path / "domain.toml",
        """\
        [databases.default]
        provider = "postgresql"
        [server.stream_subscription]
        max_retries = 9
        [custom]
        x = "${X|1}"
        """,
    )
    config = load_config(
        module_in(tmp_path), overrides={"custom": {"y": 2}}, environ={"ARCHIPEL_ENV": "none"}
    )
    config["databases"]["default"]["provider"] = "mutated"
    config["server"]["stream_subscription"]["enable_dlq"] = False
    config["custom"]["z"] = 3
    fresh = load_config(environ={})
    fresh["brokers"]["default"]["provider"] = "mutated"
    assert DEFAULTS == snapshot


# -- environment overlays -----------------------------------------------------

OVERLAY_TOML = """\
event_processing = "sync"

[databases.default]
provider = "sqlite"
database_uri = "sqlite:///dev.db"

[custom]
greeting = "hello"

[production]
event_processing = "async"

[production.databases.default]
provider = "postgresql"
database_uri = "${PROD_DATABASE_URL}"

[staging.databases.default]
provider = "postgresql"
database_uri = "${STAGING_DATABASE_URL}"
"""


def test_environment_overlay_is_merged_and_removed(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", OVERLAY_TOML)
    environ = {"ARCHIPEL_ENV": "production", "PROD_DATABASE_URL": "postgresql://db/prod"}
    config = load_config(module_in(tmp_path), environ=environ)
    assert config["event_processing"] == "async"
    assert config["databases"]["default"] == {
        "provider": "postgresql",
        "database_uri": "postgresql://db/prod",
    }
    assert config["custom"] == {"greeting": "hello"}
    assert "production" not in config
    # the unused environment's placeholders need no variables
    assert "staging" not in config


def test_without_environment_overlays_are_dropped(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", OVERLAY_TOML)
    config = load_config(module_in(tmp_path), environ={})
    assert config["event_processing"] == "sync"
    assert config["databases"]["default"]["provider"] == "sqlite"
    assert "production" not in config and "staging" not in config


def test_environment_without_matching_table_changes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", OVERLAY_TOML)
    config = load_config(module_in(tmp_path), environ={"ARCHIPEL_ENV": "qa"})
    assert config["databases"]["default"]["provider"] == "sqlite"


def test_environment_from_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "domain.toml", OVERLAY_TOML)
    monkeypatch.setenv("ARCHIPEL_ENV", "staging")
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://db/staging")
    config = load_config(module_in(tmp_path))
    assert config["databases"]["default"]["database_uri"] == "postgresql://db/staging"


def test_overrides_win_over_environment_overlay(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", OVERLAY_TOML)
    config = load_config(
        module_in(tmp_path),
        overrides={"event_processing": "sync"},
        environ={"ARCHIPEL_ENV": "production", "PROD_DATABASE_URL": "x"},
    )
    assert config["event_processing"] == "sync"


def test_unknown_tables_with_custom_keys_are_kept(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", "[reporting]\nschedule = 'daily'\n")
    config = load_config(module_in(tmp_path), environ={"ARCHIPEL_ENV": "production"})
    assert config["reporting"] == {"schedule": "daily"}


def test_environment_table_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", 'production = "yes"\n')
    with pytest.raises(ConfigurationError, match=r"\[production\]"):
        load_config(module_in(tmp_path), environ={"ARCHIPEL_ENV": "production"})


def test_environment_named_like_a_config_key_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", "[custom]\nx = 1\n")
    with pytest.raises(ConfigurationError, match="ARCHIPEL_ENV"):
        load_config(module_in(tmp_path), environ={"ARCHIPEL_ENV": "custom"})


# -- ${VAR} substitution --------------------------------------------------------


def test_seed_production_file(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", SEED_PRODUCTION_TOML)
    environ = {
        "DATABASE_URL": "postgresql://shop:secret@db.internal:5432/bookshelf",
        "REDIS_URL": "redis://cache.internal:6379/0",
    }
    config = load_config(module_in(tmp_path), environ=environ)
    assert config["databases"]["default"]["database_uri"] == environ["DATABASE_URL"]
    assert config["brokers"]["default"] == {
        "provider": "redis",
        "url": "redis://cache.internal:6379/0",
        "event_processing": "async",
        "command_processing": "async",
        "enable_outbox": True,
    }
    assert config["event_processing"] == "sync"  # top level untouched (TOML semantics)
    assert config["server"]["priority_lanes"] is True
    validate_config(config, **PROVIDERS)


@pytest.mark.parametrize(
    ("template", "environ", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A|fallback}", {}, "fallback"),
        ("${A|fallback}", {"A": "set"}, "set"),
        ("${A|}", {}, ""),
        ("${A}", {"A": ""}, ""),  # set-but-empty is a value, not "unset"
        ("${A|}", {"A": ""}, ""),
        (
            "${DATABASE_URL|postgresql://user:pw@localhost:5432/db?sslmode=off}",
            {},
            "postgresql://user:pw@localhost:5432/db?sslmode=off",
        ),
        ("${REDIS|redis://:p@localhost:6379/0}", {}, "redis://:p@localhost:6379/0"),
        (
            "postgresql://app@${DB_HOST}:5432/${DB_NAME}",
            {"DB_HOST": "db.example.org", "DB_NAME": "orders"},
            "postgresql://app@db.example.org:5432/orders",
        ),
        ("${A}-${B|b}-${A}", {"A": "a"}, "a-b-a"),
        ("${A}", {"A": "${B}"}, "${B}"),  # values are not expanded again
        ("no placeholder $HOME {x} $", {}, "no placeholder $HOME {x} $"),
        ("${A|x|y}", {}, "x|y"),
    ],
)
def test_substitution(template: str, environ: dict[str, str], expected: str) -> None:
    config = load_config(overrides={"custom": {"value": template}}, environ=environ)
    assert config["custom"]["value"] == expected


def test_substituted_values_stay_strings(tmp_path: Path) -> None:
    write(
        tmp_path / "domain.toml",
        """\
        snapshot_threshold = "${THRESHOLD}"
        [custom]
        flag = "${FLAG|true}"
        """,
    )
    config = load_config(module_in(tmp_path), environ={"THRESHOLD": "25"})
    assert config["snapshot_threshold"] == "25"
    assert config["custom"]["flag"] == "true"


def test_substitution_reaches_lists_and_nested_tables(tmp_path: Path) -> None:
    write(
        tmp_path / "domain.toml",
        """\
        [custom]
        hosts = ["${H1}", "static", ["${H2|h2}"]]
        [custom.deep.deeper]
        x = "${H1}"
        n = 5
        """,
    )
    config = load_config(module_in(tmp_path), environ={"H1": "h1"})
    assert config["custom"]["hosts"] == ["h1", "static", ["h2"]]
    assert config["custom"]["deep"]["deeper"] == {"x": "h1", "n": 5}


def test_substitution_applies_to_overrides() -> None:
    config = load_config(
        overrides={"databases": {"default": {"provider": "${DB|sqlite}"}}}, environ={}
    )
    assert config["databases"]["default"]["provider"] == "sqlite"


def test_override_can_replace_a_placeholder_whose_variable_is_unset(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", SEED_PRODUCTION_TOML)
    config = load_config(
        module_in(tmp_path),
        overrides={
            "databases": {"default": {"database_uri": "sqlite://"}},
            "brokers": {"default": {"url": "redis://localhost"}},
        },
        environ={},
    )
    assert config["databases"]["default"]["database_uri"] == "sqlite://"


def test_missing_variable_error_names_key_variable_and_fix(tmp_path: Path) -> None:
    write(tmp_path / "domain.toml", SEED_PRODUCTION_TOML)
    with pytest.raises(ConfigurationError) as info:
        load_config(module_in(tmp_path), environ={"REDIS_URL": "redis://x"})
    message = str(info.value)
    assert "databases.default.database_uri" in message
    assert "DATABASE_URL" in message
    assert "set DATABASE_URL or write ${DATABASE_URL|default}" in message


def test_missing_variable_in_a_list_names_the_index() -> None:
    with pytest.raises(ConfigurationError, match=r"custom\.hosts\[1\]"):
        load_config(overrides={"custom": {"hosts": ["a", "${NOPE}"]}}, environ={})


def test_substitution_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIPEL_TEST_VALUE", "from-os")
    config = load_config(overrides={"custom": {"v": "${ARCHIPEL_TEST_VALUE}"}})
    assert config["custom"]["v"] == "from-os"


@pytest.mark.parametrize("template", ["${}", "${1A}", "${A:-x}", "${ A }", "${A", "${A|${B}}"])
def test_malformed_placeholder_is_an_error(template: str) -> None:
    with pytest.raises(ConfigurationError, match=r"Malformed placeholder in custom\.v"):
        load_config(overrides={"custom": {"v": template}}, environ={"A": "a", "B": "b"})


# -- validation ----------------------------------------------------------------


def validate(overrides: dict[str, object]) -> None:
    validate_config(load_config(overrides=overrides, environ={}), **PROVIDERS)


def test_defaults_are_valid() -> None:
    validate({})


@pytest.mark.parametrize("key", ["command_processing", "event_processing", "message_processing"])
def test_processing_mode_must_be_sync_or_async(key: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{key} 'parallel'"):
        validate({key: "parallel"})


def test_unknown_database_provider_lists_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate({"databases": {"default": {"provider": "mongo"}}})
    assert str(info.value) == (
        "Unknown database provider 'mongo' at databases.default.provider; "
        "known: memory, postgresql, sqlite"
    )


def test_every_named_database_is_checked() -> None:
    with pytest.raises(ConfigurationError, match=r"databases\.reports\.provider"):
        validate({"databases": {"reports": {"provider": "oracle"}}})


def test_missing_provider_is_reported() -> None:
    with pytest.raises(ConfigurationError, match=r"Missing brokers\.events\.provider"):
        validate({"brokers": {"events": {"url": "redis://x"}}})


def test_unknown_broker_and_event_store_providers() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate({"brokers": {"default": {"provider": "kafka"}}, "event_store": {"provider": "x"}})
    message = str(info.value)
    assert "Unknown broker provider 'kafka' at brokers.default.provider; known: inline, redis" in (
        message
    )
    assert "event_store.provider" in message and "known: memory, message_db" in message


def test_missing_default_database() -> None:
    config = load_config(environ={})
    config["databases"] = {"other": {"provider": "memory"}}
    with pytest.raises(ConfigurationError, match=r"databases\.default"):
        validate_config(config, **PROVIDERS)


@pytest.mark.parametrize("value", [0, -1, "100", True, 1.5, None])
def test_messages_per_tick_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"server\.messages_per_tick"):
        validate({"server": {"messages_per_tick": value}})


@pytest.mark.parametrize("value", [-1, "3"])
def test_max_retries_must_not_be_negative(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"server\.stream_subscription\.max_retries"):
        validate({"server": {"stream_subscription": {"max_retries": value}}})


def test_zero_retries_is_valid() -> None:
    validate({"server": {"stream_subscription": {"max_retries": 0}}})


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate({"command_processing": "x", "server": {"messages_per_tick": 0}})
    assert len(str(info.value).splitlines()) == 2


# -- redaction -------------------------------------------------------------------


def test_redact_masks_uri_passwords_and_sensitive_keys() -> None:
    config = load_config(
        overrides={
            "databases": {
                "default": {
                    "provider": "postgresql",
                    "database_uri": "postgresql://shop:s3cr@t@db.internal:5432/app?x=a@b",
                },
            },
            "brokers": {"default": {"provider": "redis", "url": "redis://:hunter2@cache:6379/0"}},
            "custom": {
                "api_token": "abc",
                "DB_PASSWORD": "pw",
                "client_secret": None,
                "secrets": {"stripe": "sk_live", "list": ["a"]},
                "plain": "postgresql://user@host/db",
                "port": 5432,
            },
        },
        environ={},
    )
    before = copy.deepcopy(config)
    safe = redact(config)
    assert safe["databases"]["default"]["database_uri"] == (
        "postgresql://shop:***@db.internal:5432/app?x=a@b"
    )
    assert safe["brokers"]["default"]["url"] == "redis://:***@cache:6379/0"
    custom = safe["custom"]
    assert custom["api_token"] == "***"
    assert custom["DB_PASSWORD"] == "***"
    assert custom["client_secret"] is None
    assert custom["secrets"] == {"stripe": "***", "list": ["***"]}
    assert custom["plain"] == "postgresql://user@host/db"
    assert custom["port"] == 5432
    assert safe["server"] == DEFAULTS["server"]
    assert config == before
    assert type(safe) is dict
    safe["custom"]["port"] = 1
    assert config["custom"]["port"] == 5432


def test_an_unknown_top_level_key_is_an_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate({"comand_processing": "async", "reporting": {"schedule": "daily"}})
    message = str(info.value)
    assert "'comand_processing', 'reporting'" in message
    assert "command_processing" in message and "[custom]" in message
    validate({"custom": {"reporting": {"schedule": "daily"}}})


def test_the_docs_table_of_archipel_docs_generate_is_accepted_and_checked() -> None:
    validate({"docs": {"domain_snapshot": {"path": "llms.txt", "domain": "src/shop"}}})
    validate({"docs": {}})
    for bad, says in [
        ({"domain_snapshot": "llms.txt"}, "domain_snapshot"),
        ({"domain_snapshot": {"path": "llms.txt", "domain": ""}}, "non-empty strings"),
        ({"domain_snapshot": {"path": "a", "domain": "b", "depth": 2}}, "domain_snapshot"),
        ({"snapshot": {}}, "Invalid [docs]"),
        ("llms.txt", "Invalid [docs]"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(says)):
            validate({"docs": bad})


def test_protean_keys_load_and_say_they_have_no_effect(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="archipel.config"):
        validate({"debug": True, "logging": {"level": "INFO"}, "lenient_deserialization": False})
    warned = [r.getMessage() for r in caplog.records]
    assert any("'debug'" in m and "no effect" in m for m in warned)
    # [logging] is archipel's now (tests/unit/logs): it is applied, so nothing is said
    assert not any("logging" in m for m in warned)
    # Protean's default value changes nothing, so it says nothing
    assert not any("lenient_deserialization" in m for m in warned)


@pytest.mark.parametrize("value", ["30", 0, -1, True])
def test_command_default_timeout_must_be_positive_seconds(value: object) -> None:
    with pytest.raises(ConfigurationError, match="command_default_timeout"):
        validate({"command_default_timeout": value})
    validate({"command_default_timeout": 2.5})
