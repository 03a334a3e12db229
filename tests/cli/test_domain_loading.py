"""``--domain``, ``ARCHIPEL_DOMAIN``/``PROTEAN_DOMAIN`` and the errors of loading a domain."""

from __future__ import annotations

import pytest

from archipel.cli._console import CliError
from archipel.cli._domain import find_domain, resolve_spec
from tests.cli.conftest import cli_env, run_cli


def assert_clean_failure(result, code: int, *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in output, output


def test_no_domain_anywhere():
    result = run_cli("database", "setup")
    assert_clean_failure(result, 2, "no domain given", "pass --domain or set ARCHIPEL_DOMAIN")


def test_module_that_does_not_exist():
    result = run_cli("database", "setup", "--domain", "no_such_pkg.sub")
    assert_clean_failure(result, 2, "cannot import domain module 'no_such_pkg.sub'", "PYTHONPATH")


def test_module_without_a_domain():
    assert_clean_failure(
        run_cli("database", "setup", "--domain", "no_domain"), 2, "no archipel Domain found in module 'no_domain'"
    )


def test_module_that_fails_to_import():
    assert_clean_failure(
        run_cli("database", "setup", "--domain", "broken"), 2, "boom while importing broken", "--debug"
    )


def test_domain_that_fails_to_initialise():
    assert_clean_failure(
        run_cli("database", "setup", "--domain", "bad_config"), 2, "CliBadConfig", "no-such-db"
    )


def test_several_domains_need_module_attr():
    result = run_cli("database", "setup", "--domain", "two_domains")
    assert_clean_failure(result, 2, "several domains", "two_domains:first", "two_domains:second")
    chosen = run_cli("database", "setup", "--domain", "two_domains:second")
    assert chosen.returncode == 0, chosen.stderr
    assert "CliSecond" in chosen.stdout


def test_attr_that_is_not_a_domain():
    assert_clean_failure(run_cli("database", "setup", "--domain", "no_domain:ANSWER"), 2, "not an archipel Domain")


def test_the_domain_called_domain_wins():
    result = run_cli("database", "setup", "--domain", "preferred")
    assert result.returncode == 0, result.stderr
    assert "CliPreferred" in result.stdout


def test_package_domain_and_dotted_paths():
    result = run_cli("database", "setup", "--domain", "sample_shelf")
    assert result.returncode == 0, result.stderr
    assert "CliShelf" in result.stdout


@pytest.mark.parametrize("variable", ["ARCHIPEL_DOMAIN", "PROTEAN_DOMAIN"])
def test_domain_from_the_environment(variable: str):
    result = run_cli("database", "setup", env=cli_env(**{variable: "sample_shelf"}))
    assert result.returncode == 0, result.stderr
    assert "CliShelf" in result.stdout


def test_option_beats_environment():
    result = run_cli("database", "setup", "--domain", "preferred", env=cli_env(ARCHIPEL_DOMAIN="sample_shelf"))
    assert "CliPreferred" in result.stdout


def test_resolve_spec_order(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROTEAN_DOMAIN", "from_protean")
    monkeypatch.setenv("ARCHIPEL_DOMAIN", "from_archipel")
    assert resolve_spec(" given ") == "given"
    assert resolve_spec(None) == "from_archipel"
    monkeypatch.delenv("ARCHIPEL_DOMAIN")
    assert resolve_spec("") == "from_protean"


def test_find_domain_rejects_an_empty_module():
    with pytest.raises(CliError) as caught:
        find_domain(":attr")
    assert caught.value.code == 2


# -- Protean's discovery: paths, ./domain.py, factories ------------------------------------


def _project(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _domain_module(name: str, extra: str = "") -> str:
    return f"from archipel import Domain\n\ndomain = Domain(name={name!r})\n{extra}"


def _run_in(folder, *args: str, env: dict[str, str] | None = None):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "archipel", *args], cwd=folder, env=env or cli_env(),
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def project(tmp_path):
    return _project(
        tmp_path,
        {
            "domain.py": _domain_module("CliTop"),
            "src/auth/__init__.py": _domain_module(
                "CliAuth", "\ndef create_domain():\n    return Domain(name='CliFactory')\n"
            ),
            "src/billing/__init__.py": "",
            "src/billing/domain.py": _domain_module("CliBilling"),
            "apps/sub/subdomain.py": "from archipel import Domain\n\nsubdomain = Domain(name='CliSub')\n"
            "other = Domain(name='CliOther')\n",
            "empty/readme.txt": "nothing here",
        },
    )


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (None, "CliTop"),  # no --domain, no environment: ./domain.py, as `protean check` does
        (".", "CliTop"),
        ("domain.py", "CliTop"),
        ("src/auth", "CliAuth"),  # a package folder
        ("src/auth/__init__.py", "CliAuth"),
        ("src/billing/domain.py", "CliBilling"),  # a module inside a package: billing.domain
        ("src/billing", "CliBilling"),  # a package whose Domain lives in its domain.py
        ("apps/sub", "CliSub"),  # a plain folder stands for its subdomain.py; `subdomain` wins
        ("src/auth:create_domain()", "CliFactory"),  # a factory called with no arguments
    ],
)
def test_protean_discovery_finds_the_domain(project, spec, name):
    args = ["check"] + ([] if spec is None else ["--domain", spec])
    result = _run_in(project, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert name in result.stdout


def test_environment_beats_the_domain_file_in_the_folder(project):
    result = _run_in(project, "check", env=cli_env(ARCHIPEL_DOMAIN="src/billing/domain.py"))
    assert result.returncode == 0, result.stderr
    assert "CliBilling" in result.stdout


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("src/nope", ["no file or folder 'src/nope'"]),
        ("empty", ["no archipel Domain found in module 'empty'"]),  # a dotted name, not a path
        ("empty/", ["folder 'empty/' has no domain.py or subdomain.py"]),
        ("src/auth:create_domain(1)", ["called without arguments"]),
        ("src/auth:missing()", ["has no attribute 'missing'"]),
        ("src/auth:1 + 2", ["neither an attribute name nor a call"]),
    ],
)
def test_discovery_errors_name_what_is_wrong(project, spec, fragments):
    result = _run_in(project, "check", "--domain", spec)
    assert_clean_failure(result, 2, *fragments)


def test_no_domain_file_keeps_the_no_domain_error(tmp_path):
    result = _run_in(tmp_path, "check")
    assert_clean_failure(result, 2, "no domain given", "domain.py")
