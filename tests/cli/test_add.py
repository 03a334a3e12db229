"""``archipel add aggregate``: the slice Protean 0.18's ``protean add`` writes, renamed, that
works in a project made by ``archipel new``; create-only, all-or-nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.cli.add_plan import (
    AddPlanError,
    ApplyError,
    Plan,
    PlannedFile,
    apply_plan,
    plan_add_slice,
)
from tests.cli.conftest import cli_env

scaffold = pytest.importorskip("protean.scaffold.add_plan", reason="the dev extra installs Protean 0.18")


def project(root: Path, package: str = "shop", variable: str = "shop", pkg: str = "archipel") -> Path:
    """A minimal ``src/<package>/domain.py`` binding ``variable = Domain(...)``."""
    (root / "src" / package).mkdir(parents=True, exist_ok=True)
    (root / "src" / package / "domain.py").write_text(f'from {pkg} import Domain\n\n{variable} = Domain(name="Shop")\n')
    return root


def protean_plan(root: Path, name: str) -> list[tuple[str, str, str]]:
    plan = scaffold.plan_add_slice(str(root), "aggregate", name)
    return [
        (
            op.path,
            op.content.replace("protean", "archipel").replace(", ADR-0035)", ")"),
            str(op.ownership).replace("hand_owned", "hand-owned"),
        )
        for op in plan.operations
    ]


def archipel_plan(root: Path, name: str) -> list[tuple[str, str, str]]:
    return [tuple(planned) for planned in plan_add_slice(str(root), "aggregate", name).files]  # type: ignore[misc]


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,14}", fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_the_plan_is_protean_s_renamed(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    root = project(tmp_path_factory.mktemp("p"), package="orders", variable="orders_domain")
    try:
        theirs = protean_plan(root, name)
    except scaffold.AddPlanError as exc:
        with pytest.raises(AddPlanError) as ours:
            plan_add_slice(str(root), "aggregate", name)
        assert str(ours.value) == str(exc)
        return
    assert archipel_plan(root, name) == theirs


@pytest.mark.parametrize("name", ["Order", "order_item", "orderItem", "XMLHttp", "_2fa", "class", "None", "9x", "shop", "Repo", "a-b"])
def test_names_plan_or_fail_as_in_protean(tmp_path: Path, name: str) -> None:
    root = project(tmp_path)
    try:
        theirs = protean_plan(root, name)
    except scaffold.AddPlanError as exc:
        with pytest.raises(AddPlanError) as ours:
            plan_add_slice(str(root), "aggregate", name)
        assert str(ours.value) == str(exc).replace("protean new", "archipel new")
    else:
        assert archipel_plan(root, name) == theirs


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "No 'src' directory"),
        ({"src/README": ""}, "No 'src/<package>/domain.py'"),
        ({"src/a/domain.py": "x = 1\n", "src/b/domain.py": "x = 1\n"}, "more than one"),
        ({"src/a/domain.py": "app = make_app()\n"}, "does not construct a Domain"),
        ({"src/a/domain.py": "def broken(:\n"}, "Could not read"),
    ],
)
def test_a_project_add_cannot_read_is_a_usage_error(tmp_path: Path, layout: dict[str, str], message: str) -> None:
    for relative, text in layout.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    with pytest.raises(AddPlanError, match=message):
        plan_add_slice(str(tmp_path), "aggregate", "Order")


def test_an_annotated_domain_variable_is_found(tmp_path: Path) -> None:
    (tmp_path / "src/app").mkdir(parents=True)
    (tmp_path / "src/app/domain.py").write_text("import archipel\n\nmain: archipel.Domain = archipel.Domain(name='A')\n")
    plan = plan_add_slice(str(tmp_path), "aggregate", "Order")
    assert "from app.domain import main" in plan.files[2].content


def test_a_failed_write_removes_what_it_wrote(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    plan = Plan("two files", (
        PlannedFile("src/slice/first.py", "x = 1\n", "hand-owned"),
        PlannedFile("src/slice/" + "n" * 300 + ".py", "y = 2\n", "hand-owned"),  # a name too long: OSError
    ))
    with pytest.raises(ApplyError, match="nothing was left behind"):
        apply_plan(str(tmp_path), plan)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["src"]


def _archipel(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archipel", *args], cwd=folder, env=cli_env(),
                          capture_output=True, text=True, timeout=120)


def test_an_added_slice_works_in_a_new_project(tmp_path: Path) -> None:
    assert _archipel(tmp_path, "new", "shop").returncode == 0
    root = tmp_path / "shop"
    preview = _archipel(root, "add", "aggregate", "order_item", "--dry-run")
    assert preview.returncode == 0 and preview.stdout.startswith("Change plan\n")
    assert not (root / "src/shop/order_item").exists()
    added = _archipel(root, "add", "aggregate", "order_item")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[0] == "Wrote 8 files:"
    written = {path: path.read_text() for path in (root / "src/shop/order_item").iterdir()}
    again = _archipel(root, "add", "aggregate", "OrderItem")  # the same slice: refused, nothing touched
    assert again.returncode == 1 and "would overwrite an existing path" in again.stderr
    assert {path: path.read_text() for path in (root / "src/shop/order_item").iterdir()} == written
    checked = _archipel(root, "check", "--domain", "src/shop")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    script = textwrap.dedent("""
        from shop.domain import domain
        domain.init()
        from shop.order_item.commands import CreateOrderItem
        from shop.order_item.aggregate import OrderItem
        from shop.order_item.projection import OrderItemSummary
        with domain.domain_context():
            identity = domain.process(CreateOrderItem(name="first"))
            print(domain.repository_for(OrderItem).get(identity).name)
            print(domain.repository_for(OrderItemSummary).get(identity).name)
    """)
    ran = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**cli_env(), "PYTHONPATH": f"{root / 'src'}:{cli_env().get('PYTHONPATH', '')}"})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["first", "first"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "aggregate", "Order", "--dry-run", "--apply"), 2, "cannot be used together"),
        (("add", "entity", "Line"), 2, "Unsupported element type 'entity'. Supported: aggregate."),
        (("add", "aggregate", "9lives"), 2, "must be a valid Python identifier"),
        (("add", "aggregate", "Order", "--path", "nowhere"), 2, "No 'src' directory under 'nowhere'"),
    ],
)
def test_usage_errors_exit_2_and_say_why(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    project(tmp_path)
    ran = _archipel(tmp_path, *args)
    assert ran.returncode == code and message in ran.stderr, ran.stderr
    assert not (tmp_path / "src/shop/order").exists()
