"""``archipel docs generate|preview`` (Protean's ``protean docs``) and ``archipel ir diff
--format event-model``: on the bookshelf example, every type runs and its Mermaid names the
aggregates, and the text is what ``protean docs generate`` prints for the same IR; the
options, files and errors.

Live-domain runs are subprocesses (a domain is initialised once per process); runs from an IR
file are in this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Outcome, cli_env

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = ["clusters", "events", "handlers", "event-model"]
SHOP = '''
from archipel import Domain
from archipel.fields import Identifier, String

domain = Domain(name="Shop")


@domain.aggregate
class Order:
    customer_id = Identifier(required=True)
    status = String(max_length=20, default="new")


@domain.event(part_of=Order)
class OrderPlaced:
    order_id = Identifier(required=True)
'''


def archipel(folder: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archipel", *args], cwd=folder, env=cli_env(**env),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bookshelf_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shown = archipel(ROOT, "ir", "show", "-d", "examples.bookshelf")
    assert shown.returncode == 0, shown.stderr
    path = tmp_path_factory.mktemp("docs") / "bookshelf-ir.json"
    path.write_text(shown.stdout)
    return path


def aggregates(ir_file: Path) -> list[str]:
    ir: dict[str, Any] = json.loads(ir_file.read_text())
    return sorted(path.rsplit(".", 1)[-1] for path in ir["clusters"])


@pytest.fixture
def docs(cli: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Outcome]:
    """The in-process CLI (``cli``), run from an empty folder."""
    monkeypatch.chdir(tmp_path)
    return cli


def protean_prints(*args: str) -> tuple[int, str]:
    """``protean docs ARGS`` (or ``protean ir ARGS``): exit code and output."""
    typer_testing = pytest.importorskip("typer.testing")
    pytest.importorskip("protean.cli.docs", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")
    from protean.cli.docs import app as protean_docs
    from protean.cli.ir import app as protean_ir

    app = protean_ir if args[0] == "diff" else protean_docs
    result = typer_testing.CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


# -- the bookshelf example -------------------------------------------------------------------

@pytest.mark.parametrize("doc_type", DIAGRAMS)
@pytest.mark.parametrize("fmt", ["markdown", "mermaid"])
def test_each_diagram_type_of_the_bookshelf_names_its_aggregates(docs, bookshelf_ir, doc_type, fmt):
    outcome = docs("docs", "generate", "--ir", str(bookshelf_ir), "--type", doc_type, "--format", fmt)
    assert outcome.code == 0, outcome.err
    assert ("```mermaid" in outcome.out) == (fmt == "markdown")
    assert outcome.out.lstrip("# \n").startswith(("classDiagram", "flowchart", "Cluster", "Event", "Command"))
    names = aggregates(bookshelf_ir)
    assert len(names) >= 4
    for name in names:
        assert f"[{name}]" in outcome.out or f'["{name}"]' in outcome.out, name
    assert outcome.out == protean_prints("generate", "--ir", str(bookshelf_ir), "-t", doc_type, "-f", fmt)[1]


@pytest.mark.parametrize("doc_type", ["catalog", "all", "llms"])
def test_the_catalog_all_and_llms_of_the_bookshelf(docs, bookshelf_ir, doc_type):
    outcome = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", doc_type)
    assert outcome.code == 0, outcome.err
    for name in aggregates(bookshelf_ir):
        assert f"## {name} (`" in outcome.out or f"**{name}**" in outcome.out or f"Cluster: {name}" in outcome.out
    theirs = protean_prints("generate", "--ir", str(bookshelf_ir), "-t", doc_type)[1]
    if doc_type == "llms":  # the project overlay is Protean's; the framework layer is archipel's
        assert outcome.out.startswith("# archipel ")
        overlay = outcome.out.index("\n\n## Project: Bookshelf")
        assert outcome.out[overlay:] == theirs[theirs.index("\n\n## Project"):]
    else:
        assert outcome.out == theirs


def test_a_live_domain_gives_what_its_ir_file_gives(bookshelf_ir):
    live = archipel(ROOT, "docs", "generate", "-d", "examples.bookshelf", "-t", "all")
    assert live.returncode == 0, live.stderr
    assert live.stdout == protean_prints("generate", "--ir", str(bookshelf_ir), "-t", "all")[1]
    one = archipel(ROOT, "docs", "generate", "-d", "examples.bookshelf", "-t", "clusters",
                   "--cluster", "examples.bookshelf.catalog.book.Book")
    assert one.returncode == 0 and one.stdout.startswith("## Aggregate Cluster\n\n```mermaid\nclassDiagram")
    assert '["Book"]' in one.stdout and '["Order"]' not in one.stdout


# -- finding the domain, writing files -------------------------------------------------------

def test_the_domain_is_found_as_every_command_finds_it(tmp_path):
    (tmp_path / "domain.py").write_text(SHOP)
    found = archipel(tmp_path, "docs", "generate", "-t", "clusters", "-f", "mermaid")
    assert found.returncode == 0, found.stderr
    assert 'class domain_Order["Order"]' in found.stdout
    (tmp_path / "domain.py").rename(tmp_path / "shop.py")
    by_env = archipel(tmp_path, "docs", "generate", "-t", "events", "-f", "mermaid", ARCHIPEL_DOMAIN="shop")
    assert by_env.returncode == 0 and "evt_shop_OrderPlaced([OrderPlaced])" in by_env.stdout
    missing = archipel(tmp_path, "docs", "generate", "-t", "events")
    assert missing.returncode != 0 and "domain" in missing.stderr.lower()
    alone = archipel(tmp_path, "docs", "generate", "-t", "llms")  # the framework layer needs no domain
    assert alone.returncode == 0 and alone.stdout.startswith("# archipel ") and "## Project" not in alone.stdout


def test_output_writes_the_file_and_check_compares_a_snapshot(docs, bookshelf_ir, tmp_path):
    written = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "catalog", "-o", "docs/out/catalog.md")
    assert written.code == 0 and "Documentation written to docs/out/catalog.md" in written.out
    text = (tmp_path / "docs/out/catalog.md").read_text()
    assert text.startswith("# Event & Command Catalog") and not text.endswith("\n\n")
    folder = docs("docs", "generate", "--ir", str(bookshelf_ir), "-o", "docs")
    assert folder.code == 1 and "--output docs is a folder" in folder.err

    missing = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "llms", "-o", "llms.txt", "--check")
    assert missing.code == 1 and "Snapshot drift: llms.txt does not exist" in missing.out
    assert not (tmp_path / "llms.txt").exists()
    assert docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "llms", "-o", "llms.txt").code == 0
    fresh = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "llms", "-o", "llms.txt", "--check")
    assert fresh.code == 0 and "llms.txt is up to date" in fresh.out
    (tmp_path / "llms.txt").write_text((tmp_path / "llms.txt").read_text() + "edited\n")
    drift = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "llms", "-o", "llms.txt", "--check")
    assert drift.code == 1 and "llms.txt is out of date" in drift.out


def test_the_snapshot_setting_stands_in_for_domain_and_output(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "shop.py").write_text(SHOP)
    (app / "domain.toml").write_text("")  # the domain's own config (archipel refuses a [docs] key there)
    (tmp_path / "pyproject.toml").write_text('[tool.archipel.docs.domain_snapshot]\npath = "llms.txt"\n'
                                             'domain = "app/shop.py"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    wrote = archipel(sub, "docs", "generate", "-t", "llms")
    assert wrote.returncode == 0, wrote.stderr
    assert "**Order** (`shop.Order`)" in (tmp_path / "llms.txt").read_text()
    assert archipel(sub, "docs", "generate", "-t", "llms", "--check").returncode == 0
    assert archipel(sub, "docs", "generate", "-t", "llms", "-o", "other.txt", "--check").returncode == 1
    (tmp_path / "pyproject.toml").write_text('[tool.archipel.docs.domain_snapshot]\npath = "x.txt"\n')
    partial = archipel(sub, "docs", "generate", "-t", "llms")
    assert partial.returncode == 1 and "needs a non-empty string 'domain'" in partial.stderr
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "domain.toml").write_text('[docs]\ndomain_snapshot = "llms.txt"\n')
    wrong = archipel(sub, "docs", "generate", "-t", "llms")
    assert wrong.returncode == 1 and "[docs].domain_snapshot in" in wrong.stderr
    assert "must be a table with a 'path' and a 'domain'" in wrong.stderr
    (tmp_path / "domain.toml").write_text('[docs\n')
    broken = archipel(sub, "docs", "generate", "-t", "llms")
    assert broken.returncode == 1 and "could not read" in broken.stderr and "domain.toml" in broken.stderr


def test_annotations_render_in_their_slice_and_unmatched_ones_are_reported(docs, bookshelf_ir, tmp_path):
    notes = tmp_path / ".archipel" / "annotations.toml"
    notes.parent.mkdir()
    notes.write_text('[annotations."examples.bookshelf.catalog.book.Book"]\nnote = "Books are sold."\n'
                     'owner = "catalog team"\n\n[annotations."gone.Thing"]\nnote = "Renamed?"\n')
    shown = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "event-model")
    assert shown.code == 0, shown.err
    assert "> **Note:** Books are sold.\n>\n> **Owner:** catalog team" in shown.out
    assert shown.out.rstrip().endswith("## Unmatched annotations\n\nThese annotation keys match no element in the "
                                       "model:\n\n- `gone.Thing`")
    assert shown.out == protean_prints("generate", "--ir", str(bookshelf_ir), "-t", "event-model",
                                       "--annotations", str(notes))[1]
    (tmp_path / "bad.toml").write_text('[annotations."x"]\nowner = "a"\n')
    bad = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "event-model", "--annotations", "bad.toml")
    assert bad.code == 1 and "Annotation for 'x' in bad.toml must have a non-empty string 'note'" in bad.err
    absent = docs("docs", "generate", "--ir", str(bookshelf_ir), "-t", "event-model", "--annotations", "no.toml")
    assert absent.code == 1 and "annotations file not found: no.toml" in absent.err


# -- agents ----------------------------------------------------------------------------------

def test_the_agents_pack_is_protean_s_for_archipel_s_codes(docs, tmp_path):
    shown = docs("docs", "generate", "-t", "agents", "--domain", "not/read.py")  # no source is read
    assert shown.code == 0, shown.err
    code, theirs = protean_prints("generate", "-t", "agents")
    assert code == 0
    import protean

    import archipel
    renamed = (theirs.replace(f"# Protean {protean.__version__}", f"# archipel {archipel.__version__}")
               .replace("a Protean project", "an archipel project").replace("Protean", "archipel")
               .replace("protean", "archipel"))
    assert shown.out == renamed
    from archipel.error_codes import CODES
    rules = [line for line in shown.out.splitlines() if line.startswith("- **Do not**")]
    assert len(rules) == sum(spec.level == "error" for spec in CODES.values()) == 15
    assert docs("docs", "generate", "-t", "agents", "-o", "AGENTS.md").code == 0
    assert (tmp_path / "AGENTS.md").read_text() + "\n" == shown.out
    refused = docs("docs", "generate", "-t", "agents", "-f", "mermaid")
    assert refused.code == 2 and "agents outputs a Markdown constraint pack" in refused.err


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "code", "message"), [
    (("-t", "diagrams"), 2, "invalid --type: 'diagrams'. Choose from: clusters, events, handlers, catalog, "
                            "event-model, llms, agents, all"),
    (("-f", "svg"), 2, "invalid --format: 'svg'. Choose from: markdown, mermaid"),
    (("-d", "shop.py"), 2, "--domain and --ir are mutually exclusive"),
    (("-t", "events", "--cluster", "x.Order"), 2, "--cluster can only be used with --type=clusters or --type=all"),
    (("-t", "clusters", "--annotations", "a.toml"), 2, "--annotations can only be used with --type=event-model"),
    (("-t", "all", "--check"), 2, "--check can only be used with --type=llms"),
    (("-t", "catalog", "-f", "mermaid"), 2, "--format=mermaid is not supported for --type=catalog (catalog "
                                            "outputs Markdown tables, not Mermaid diagrams)"),
    (("--cluster", "x.Nope"), 2, "unknown --cluster: 'x.Nope'. The domain's clusters: examples.bookshelf."),
])
def test_wrong_usage_is_an_error_naming_it(docs, bookshelf_ir, args, code, message):
    outcome = docs("docs", "generate", "--ir", str(bookshelf_ir), *args)
    assert outcome.code == code
    assert message in " ".join(outcome.err.split())
    assert outcome.out == ""


def test_a_missing_ir_file_and_preview_without_mkdocs(docs):
    missing = docs("docs", "generate", "--ir", "nowhere.json")
    assert missing.code == 1 and "file not found or not a regular file: nowhere.json" in missing.err
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        preview = docs("docs", "preview")
        assert preview.code == 1 and "mkdocs is not installed" in preview.err and "pip install mkdocs" in preview.err
    else:  # with mkdocs, a folder without mkdocs.yml is the error
        preview = docs("docs", "preview")
        assert preview.code == 1 and "no mkdocs.yml" in preview.err


# -- ir diff --format event-model -------------------------------------------------------------

def test_ir_diff_in_event_model_words_is_protean_s(docs, bookshelf_ir, tmp_path):
    left: dict[str, Any] = json.loads(bookshelf_ir.read_text())
    right = json.loads(bookshelf_ir.read_text())
    book = right["clusters"]["examples.bookshelf.catalog.book.Book"]
    removed = sorted(book["commands"])[0]
    del book["commands"][removed]
    book["aggregate"]["fields"]["subtitle"] = {"kind": "standard", "type": "String"}
    del right["projections"][sorted(right["projections"])[0]]
    (tmp_path / "l.json").write_text(json.dumps(left))
    (tmp_path / "r.json").write_text(json.dumps(right))
    outcome = docs("ir", "diff", "-l", "l.json", "-r", "r.json", "-f", "event-model")
    assert outcome.out.startswith("Model changes:\n")
    assert f"  - slice {removed.rsplit('.', 1)[-1]}\n" in outcome.out
    assert "  ~ slice Book: aggregate field subtitle added\n" in outcome.out
    assert (outcome.code, outcome.out) == protean_prints("diff", "-l", "l.json", "-r", "r.json", "-f", "event-model")
    same = docs("ir", "diff", "-l", "l.json", "-r", "l.json", "-f", "event-model")
    assert (same.code, same.out) == (0, "No model changes.\n")
