"""``archipel recover`` against Protean's ``protean recover`` on the same facts.

Protean's memory event store keeps its messages per domain context, so a Protean
program cannot be restored and then inspected by its CLI in one process; instead
Protean's command runs on the facts archipel found (each recorded position and
head as Protean's ``SubscriptionStatus``, each stale dead letter as a stale
recovery-tracking entry), with its own verdicts, envelope, summary and exit
status, and those are compared with archipel's, before the restore, after it and
on reset. The verdict rule itself is compared on any positions (hypothesis).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel.cli.recover import verdict_of
from archipel.engine.restore_check import checkpoint_statuses, recovery_findings
from tests.cli import test_recover
from tests.cli.test_recover import _history, _recover, _restore

shop = test_recover.shop  # the restored shop fixture, here on the memory store

protean_recover = pytest.importorskip("protean.cli.recover")
subscription_status = pytest.importorskip("protean.server.subscription_status")
typer_testing = pytest.importorskip("typer.testing")

positions = st.one_of(
    st.none(), st.integers(-2, 40).map(str), st.sampled_from(["", "abc", "5.0", " 7", "-1"])
)


@given(current=positions, head=positions)
def test_the_verdict_is_protean_s(current: str | None, head: str | None) -> None:
    status = subscription_status.SubscriptionStatus(
        name="s", handler_name="H", subscription_type="event_store", stream_category="c", lag=None,
        pending=0, current_position=current, head_position=head, status="ok", consumer_count=0, dlq_depth=0,
    )
    assert verdict_of(current, head) == protean_recover._verdict(status)


class _Facts:
    """What archipel found, as Protean's collectors would return it."""

    def __init__(self, shop: Any) -> None:
        with shop.domain_context():
            self.statuses = checkpoint_statuses(shop)
            self.findings = recovery_findings(shop)
        self.name = shop.name

    def protean_statuses(self, _domain: Any) -> list[Any]:
        return [
            subscription_status.SubscriptionStatus(
                name=s.name, handler_name=s.handler_name, subscription_type="event_store",
                stream_category=s.stream_category, lag=None, pending=0, current_position=s.current_position,
                head_position=s.head_position, status="ok", consumer_count=0, dlq_depth=0,
            )
            for s in self.statuses
        ]

    def protean_findings(self, _domain: Any, _statuses: Any) -> list[Any]:
        return [
            subscription_status.RecoveryCheckpointStatus(
                name=f.name, handler_name=f.handler_name, stream_category=f.stream_category,
                recovery_checkpoint_stream=f.table, head_position=f.head_position or 0, verdict=f.verdict,
                # one stale entry per stale dead letter (a relayed event's letter carries no position)
                stale_positions=list(range(len(f.stale_letters))), unresolved={}, watermark=0,
            )
            for f in self.findings
        ]

    @contextlib.contextmanager
    def domain_context(self) -> Any:
        yield self


def _protean(facts: _Facts, monkeypatch: pytest.MonkeyPatch, *flags: str) -> tuple[int, dict[str, Any]]:
    from protean.cli import app

    monkeypatch.setattr(protean_recover, "load_domain", lambda spec, as_json=False: facts)
    monkeypatch.setattr(protean_recover, "route_logs_to_stderr", lambda **_: None)
    monkeypatch.setattr(subscription_status, "collect_subscription_statuses", facts.protean_statuses)
    monkeypatch.setattr(subscription_status, "collect_recovery_checkpoint_statuses", facts.protean_findings)
    monkeypatch.setattr(subscription_status, "reset_checkpoint_to_head", lambda _d, s: int(s.head_position))
    monkeypatch.setattr(subscription_status, "reset_recovery_checkpoint", lambda _d, f: list(f.stale_positions))
    result = typer_testing.CliRunner().invoke(app, ["recover", *flags, "--domain", "x", "--json"])
    return result.exit_code, json.loads(result.stdout)


def _comparable(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope without archipel's added keys and the lists of what a reset changed."""
    data = dict(envelope["data"])
    data["subscriptions"] = [{k: v for k, v in s.items() if k != "record"} for s in data["subscriptions"]]
    if "recovery" in data:
        data["recovery"] = [
            {k: v for k, v in r.items() if k not in ("stale_dead_letters", "stale_positions")}
            for r in data["recovery"]
        ]
    for key in ("reset", "recovery_reset"):
        if key in data:
            data[key] = [{"name": r["name"], "handler_name": r["handler_name"]} for r in data[key]]
    return {**envelope, "data": data}


def _same(facts: _Facts, cli: Any, monkeypatch: pytest.MonkeyPatch, *flags: str) -> tuple[int, dict[str, Any]]:
    with monkeypatch.context() as patched:
        protean_code, protean_envelope = _protean(facts, patched, *flags)
    code, envelope = _recover(cli, *flags)
    assert code == protean_code
    assert _comparable(envelope) == _comparable(protean_envelope)
    return code, envelope


@pytest.mark.parametrize("shop", ["memory"], indirect=True)
def test_protean_s_command_on_archipel_s_facts_gives_archipel_s_verdicts(
    shop: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(shop)
    assert _same(_Facts(shop), cli, monkeypatch, "--verify-checkpoints")[0] == 0
    _restore(shop)
    facts = _Facts(shop)
    assert _same(facts, cli, monkeypatch, "--verify-checkpoints")[0] == 1
    code, envelope = _same(facts, cli, monkeypatch, "--verify-checkpoints", "--reset-beyond-head")
    assert code == 0 and envelope["data"]["summary"]["reset"] == 2
    assert _same(_Facts(shop), cli, monkeypatch, "--verify-checkpoints")[0] == 0


@pytest.mark.parametrize("flags", [(), ("--reset-beyond-head",)])
def test_usage_is_protean_s(cli: Any, flags: tuple[str, ...]) -> None:
    from protean.cli import app

    theirs = typer_testing.CliRunner().invoke(app, ["recover", *flags, "--domain", "x", "--json"])
    ours = cli("recover", *flags, "--domain", "x", "--json")
    assert ours.code == theirs.exit_code
    if flags:  # the error envelope on stdout
        assert json.loads(ours.out) == json.loads(theirs.stdout)
    else:
        assert "Nothing to do. Pass --verify-checkpoints" in ours.out and "Nothing to do" in theirs.stdout
