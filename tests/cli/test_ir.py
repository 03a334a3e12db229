"""``archipel ir show|diff|check`` (Protean's ``protean ir``): output, modes and exit codes.

Live-domain runs are subprocesses (the domain module changes between runs); file-only diffs
run in this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Outcome, cli_env

SHOP = '''
from archipel import Domain, handle
from archipel.fields import Identifier, String, Integer

domain = Domain(name="Shop")


@domain.aggregate
class Order:
    customer_id = Identifier(required=True)
    status = String(max_length=20, default="new")
EXTRA_ORDER


@domain.event(part_of=Order, published=True)
class OrderPlaced:
    order_id = Identifier(required=True)
EXTRA_EVENT
'''


def write_shop(folder: Path, order: str = "", event: str = "") -> Path:
    module = folder / "shop.py"
    text = textwrap.dedent(SHOP).replace("EXTRA_ORDER", order).replace("EXTRA_EVENT", event)
    module.write_text(text)
    return module


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archipel", "ir", *args], cwd=folder, env=cli_env(),
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def ir_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           tmp_path: Path) -> Iterator[Callable[..., Outcome]]:
    from archipel.cli.main import run as main_run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        code = main_run(["ir", *args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    yield invoke


@pytest.fixture
def baseline(tmp_path: Path) -> dict[str, Any]:
    """The canonical IR of the shop, as `ir show --canonical` prints it."""
    write_shop(tmp_path)
    shown = run(tmp_path, "show", "--domain", "shop.py", "--canonical")
    assert shown.returncode == 0, shown.stderr
    (tmp_path / ".archipel").mkdir()
    (tmp_path / ".archipel" / "ir.json").write_text(shown.stdout)
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


def _dump(folder: Path, name: str, ir: dict[str, Any]) -> str:
    (folder / name).write_text(json.dumps(ir))
    return name


def _order(ir: dict[str, Any]) -> dict[str, Any]:
    aggregate: dict[str, Any] = ir["clusters"]["shop.Order"]["aggregate"]
    return aggregate


# -- show -----------------------------------------------------------------------------------

def test_show_prints_the_ir_and_canonical_leaves_out_the_timestamp(tmp_path, baseline):
    shown = run(tmp_path, "show", "--domain", "shop.py")
    full = json.loads(shown.stdout)
    assert full["generated_at"] and "generated_at" not in baseline
    assert full["checksum"] == baseline["checksum"]
    assert _order(full)["fields"]["status"] == {"default": "new", "kind": "standard", "max_length": 20,
                                                "type": "String"}
    assert full["contracts"]["events"][0]["type"] == "Shop.OrderPlaced.v1"


def test_show_summary_and_a_wrong_format(tmp_path, baseline):
    summary = run(tmp_path, "show", "-d", "shop.py", "-f", "summary")
    assert summary.returncode == 0
    assert "Domain: Shop" in summary.stdout and "Element Counts" in summary.stdout
    assert "Order: 0 entities, 0 VOs, 0 commands, 1 events" in summary.stdout
    wrong = run(tmp_path, "show", "-d", "shop.py", "-f", "yaml")
    assert wrong.returncode == 1
    assert "invalid --format: 'yaml'. Choose from: json, summary" in wrong.stderr


def test_show_and_check_find_the_domain_as_every_command_does(tmp_path, baseline):
    (tmp_path / "shop.py").rename(tmp_path / "domain.py")  # ./domain.py, archipel's (and Protean's) default
    shown = run(tmp_path, "show", "--canonical")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["domain"]["name"] == "Shop"
    assert run(tmp_path, "check").returncode == 1  # its module path changed: stale


def test_show_names_a_domain_that_does_not_load(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    shown = run(tmp_path, "show", "-d", "broken.py")
    assert shown.returncode == 1
    assert "boom" in shown.stderr
    (tmp_path / "bad_init.py").write_text(
        "from archipel import Domain\ndomain = Domain(name='X')\n"
        "def init(*args, **kwargs):\n    raise TypeError('bad init')\ndomain.init = init\n"
    )
    for command, code in ((["show"], 1), (["check"], 2), (["diff", "-r", "x.json"], 1)):
        failed = run(tmp_path, *command, "-d", "bad_init.py")
        assert failed.returncode == code, command
        assert "TypeError: bad init" in failed.stderr


# -- diff between files -----------------------------------------------------------------------

def test_diff_of_a_file_with_itself_is_no_change(tmp_path, baseline, ir_cli):
    name = _dump(tmp_path, "a.json", baseline)
    outcome = ir_cli("diff", "--left", name, "--right", name)
    assert (outcome.code, outcome.out.strip()) == (0, "No changes detected.")


def test_a_new_optional_field_is_compatible_exit_2(tmp_path, baseline, ir_cli):
    _order(baseline)["fields"]["note"] = {"kind": "standard", "type": "String"}
    left = _dump(tmp_path, "left.json", json.loads((tmp_path / ".archipel" / "ir.json").read_text()))
    outcome = ir_cli("diff", "-l", left, "-r", _dump(tmp_path, "right.json", baseline))
    assert outcome.code == 2
    assert "+ field: note (String)" in outcome.out
    assert "Avro compatibility: FULL" in outcome.out


def test_a_removed_field_is_breaking_exit_1_and_json_carries_the_report(tmp_path, baseline, ir_cli):
    left = _dump(tmp_path, "left.json", baseline)
    del _order(baseline)["fields"]["customer_id"]
    right = _dump(tmp_path, "right.json", baseline)
    text = ir_cli("diff", "-l", left, "-r", right)
    assert text.code == 1
    assert "Breaking Changes (1):" in text.out
    assert "! Field 'customer_id' removed from AGGREGATE 'shop.Order'" in text.out
    as_json = ir_cli("diff", "-l", left, "-r", right, "--format", "json")
    assert as_json.code == 1
    document = json.loads(as_json.out)
    assert document["summary"]["counts"] == {"added": 0, "changed": 1, "removed": 0}
    [change] = document["compatibility"]["breaking_changes"]
    assert (change["change_type"], change["field_name"]) == ("field_removed", "customer_id")
    # a required field without a default: an old reader cannot read the new data
    assert document["compatibility"]["avro_verdict"] == "BACKWARD"


def test_a_published_event_gaining_a_required_field_is_a_contract_break(tmp_path, baseline, ir_cli):
    left = _dump(tmp_path, "left.json", baseline)
    new = {"kind": "standard", "type": "String", "required": True}
    baseline["contracts"]["events"][0]["fields"]["reason"] = new
    baseline["clusters"]["shop.Order"]["events"]["shop.OrderPlaced"]["fields"]["reason"] = new
    outcome = ir_cli("diff", "-l", left, "-r", _dump(tmp_path, "right.json", baseline), "-f", "json")
    assert outcome.code == 1
    breaks = json.loads(outcome.out)["contracts"]["breaking_changes"]
    assert [b["type"] for b in breaks] == ["contract_required_field_added"]


@pytest.mark.parametrize(("args", "message"), [
    (("--left", "a.json"), "--right is required when using --left"),
    ((), "provide either --left or --domain"),
    (("--base", "HEAD"), "--base requires --domain"),
    (("--base", "HEAD", "-d", "shop.py", "-r", "a.json"), "--base cannot be combined with --left/--right"),
    (("--left", "a.json", "-r", "a.json", "-d", "shop.py"), "--left and --domain are mutually exclusive"),
    (("-l", "a.json", "-r", "a.json", "-f", "xml"), "invalid --format: 'xml'. Choose from: text, json, event-model"),
    (("-l", "missing.json", "-r", "a.json"), "file not found or not a regular file: missing.json"),
    (("-l", "list.json", "-r", "a.json"), "IR file is not a JSON object: list.json"),
])
def test_wrong_diff_usage_is_an_error_naming_it_exit_1(tmp_path, ir_cli, args, message):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "list.json").write_text("[]")
    outcome = ir_cli("diff", *args)
    assert outcome.code == 1
    assert message in " ".join(outcome.err.split())


def test_config_strictness_warn_off_exclude_and_unknown_keys(tmp_path, baseline, ir_cli):
    left = _dump(tmp_path, "left.json", baseline)
    del _order(baseline)["fields"]["status"]
    right = _dump(tmp_path, "right.json", baseline)
    config = tmp_path / ".archipel" / "config.toml"
    config.write_text('[compatibility]\nstrictness = "warn"\n')
    warned = ir_cli("diff", "-l", left, "-r", right)
    assert warned.code == 0 and "Breaking changes detected (strictness=warn" in warned.out
    config.write_text('[compatibility]\nstrictness = "off"\n')
    off = ir_cli("diff", "-l", left, "-r", right)
    assert off.code == 0 and "disabled (strictness=off)" in off.out
    config.write_text('[compatibility]\nexclude = ["shop.Order"]\n')
    excluded = ir_cli("diff", "-l", left, "-r", right, "-f", "json")
    assert excluded.code == 2  # still a change, no longer a classified break
    assert json.loads(excluded.out)["compatibility"]["breaking_changes"] == []
    config.write_text('[compatibility]\nstrictnes = "warn"\n')
    typo = ir_cli("diff", "-l", left, "-r", right)
    assert typo.code == 1
    assert "unknown key(s) strictnes in [compatibility]; allowed: deprecation, exclude, strictness" in typo.err


# -- the live domain against .archipel/ir.json, and check ---------------------------------------

def test_live_domain_against_the_baseline_and_check(tmp_path, baseline):
    assert run(tmp_path, "diff", "-d", "shop.py").returncode == 0
    fresh = run(tmp_path, "check", "-d", "shop.py")
    assert (fresh.returncode, fresh.stdout.splitlines()[0]) == (0, "IR is fresh.")
    write_shop(tmp_path, event="    reason = String(required=True)")
    diff = run(tmp_path, "diff", "-d", "shop.py")
    assert diff.returncode == 1
    assert "Required field 'reason' added to published event 'Shop.OrderPlaced.v1'" in diff.stdout
    stale = run(tmp_path, "check", "-d", "shop.py", "--format", "json")
    assert stale.returncode == 1
    report = json.loads(stale.stdout)
    assert report["status"] == "stale" and report["stored_checksum"] == baseline["checksum"]
    assert report["domain_checksum"] != baseline["checksum"]
    # the live domain as the baseline (left) of a file: the published field goes away
    reverse = run(tmp_path, "diff", "-d", "shop.py", "-r", ".archipel/ir.json")
    assert reverse.returncode == 1
    assert "Field 'reason' removed from published event 'Shop.OrderPlaced.v1'" in reverse.stdout


def test_check_without_a_baseline_and_with_another_ir_version(tmp_path, baseline):
    (tmp_path / ".archipel" / "ir.json").unlink()
    missing = run(tmp_path, "check", "-d", "shop.py")
    assert missing.returncode == 2 and "No materialized IR found in '.archipel'" in missing.stdout
    assert run(tmp_path, "diff", "-d", "shop.py").returncode == 1
    (tmp_path / ".archipel" / "ir.json").write_text(json.dumps({**baseline, "ir_version": "0.2.0"}))
    mismatch = run(tmp_path, "check", "-d", "shop.py")
    assert mismatch.returncode == 3 and "built against schema 0.2.0" in mismatch.stdout
    (tmp_path / ".archipel" / "config.toml").write_text("[staleness]\nenabled = false\n")
    assert run(tmp_path, "check", "-d", "shop.py").returncode == 0
    wrong = run(tmp_path, "check", "-d", "shop.py", "-f", "xml")  # before anything is read: Protean's 1
    assert wrong.returncode == 1 and "Choose from: text, json" in wrong.stderr
    (tmp_path / ".archipel" / "config.toml").write_text("[staleness]\nenabled = 1\n")
    broken = run(tmp_path, "check", "-d", "shop.py")
    assert broken.returncode == 2 and "staleness.enabled must be a boolean" in broken.stderr


def test_base_reads_the_baseline_from_a_git_revision(tmp_path, baseline):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                       env={**cli_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})

    git("init", "-q")
    git("add", ".archipel/ir.json")
    git("commit", "-qm", "baseline")
    write_shop(tmp_path, order="    priority = Integer()")
    (tmp_path / ".archipel" / "ir.json").unlink()  # --base reads git, not the working tree
    compatible = run(tmp_path, "diff", "-d", "shop.py", "--base", "HEAD")
    assert compatible.returncode == 2
    assert "+ field: priority (Integer)" in compatible.stdout
    unknown = run(tmp_path, "diff", "-d", "shop.py", "--base", "no-such-ref")
    assert unknown.returncode == 1
    assert "Failed to load '.archipel/ir.json' from commit 'no-such-ref'" in " ".join(unknown.stderr.split())


def test_domain_to_ir_after_init(tmp_path, monkeypatch):
    from archipel.errors import IncorrectUsageError

    write_shop(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("shop", None)
    import shop  # type: ignore[import-not-found]

    with pytest.raises(IncorrectUsageError, match="not initialised"):
        shop.domain.to_ir()
    shop.domain.init(traverse=False)
    ir = shop.domain.to_ir()
    assert ir["domain"]["name"] == "Shop"
    assert sorted(ir["elements"]["AGGREGATE"]) == ["shop.Order"]
    sys.modules.pop("shop", None)


def test_the_bookshelf_example_s_ir_is_protean_s_schema_but_the_documented_omissions():
    jsonschema = pytest.importorskip("jsonschema")
    from archipel.ir import load_schema

    root = Path(__file__).resolve().parents[2]
    shown = run(root, "show", "-d", "examples.bookshelf")
    assert shown.returncode == 0, shown.stderr
    ir = json.loads(shown.stdout)
    assert ir["elements"]["AGGREGATE"] and ir["elements"]["PROCESS_MANAGER"]
    errors = {(tuple(e.path)[:2], e.message) for e in jsonschema.Draft202012Validator(load_schema()).iter_errors(ir)}
    pm = ("flows", "process_managers")
    assert errors == {(pm, f"'{key}' is a required property")
                      for key in ("identity_field", "stream_category", "transition_event")}
    assert "process_managers" in ir["x-archipel"]["omitted"]
