"""``archipel database setup|drop|truncate`` and ``archipel shell``."""

from __future__ import annotations

from tests.cli.conftest import run_cli


def test_setup_truncate_drop_report_what_they_did():
    setup = run_cli("database", "setup", "--domain", "sample_shelf")
    assert setup.returncode == 0, setup.stderr
    assert "CliShelf" in setup.stdout and "set up" in setup.stdout
    assert "2 tables in 'default' (memory)" in setup.stdout  # Book and ShelfCount
    truncate = run_cli("database", "truncate", "--yes", "--domain", "sample_shelf")
    assert truncate.returncode == 0, truncate.stderr
    assert "emptied" in truncate.stdout
    drop = run_cli("database", "drop", "-y", "--domain", "sample_shelf")
    assert drop.returncode == 0, drop.stderr
    assert "dropped" in drop.stdout


def test_destructive_commands_refuse_without_yes_and_without_a_terminal():
    for action in ("truncate", "drop"):
        result = run_cli("database", action, "--domain", "sample_shelf")
        assert result.returncode == 2
        assert "--yes" in result.stderr
        assert "Traceback" not in result.stderr


def test_shell_reads_code_from_stdin_with_the_domain_active():
    result = run_cli(
        "shell", "--domain", "sample_shelf",
        input="print('name=' + domain.name)\nprint('current=' + current_domain.name)\nprint(Book.__name__)\n",
    )
    assert result.returncode == 0, result.stderr
    assert "name=CliShelf" in result.stdout
    assert "current=CliShelf" in result.stdout
    assert "Book" in result.stdout
    assert "Names: domain, current_domain, Q" in result.stderr + result.stdout


def test_shell_command_option_processes_a_command():
    code = (
        "domain.setup_database()\n"
        "book_id = domain.process(AddBook(title='Dune'))\n"
        "print('books', domain.query_for(ShelfCount).get('main').books)\n"
    )
    result = run_cli("shell", "--domain", "sample_shelf", "-c", code)
    assert result.returncode == 0, result.stderr
    assert "books 1" in result.stdout


def test_shell_command_errors_are_reported_without_traceback():
    result = run_cli("shell", "--domain", "sample_shelf", "-c", "1/0")
    assert result.returncode == 1
    assert "ZeroDivisionError" in result.stderr
    assert "Traceback" not in result.stderr


def test_shell_help_shows_domain():
    assert "--domain" in run_cli("shell", "--help").stdout


def test_shell_no_traverse_registers_only_what_the_domain_module_imports():
    # sample_shelf/__init__.py defines the domain; its books module is found by traversal only
    code = "print('elements', sorted(domain.registry.of_kind('aggregate')))"
    traversed = run_cli("shell", "--domain", "sample_shelf", "--traverse", "-c", code)
    assert traversed.returncode == 0, traversed.stderr
    assert "'Book'" in traversed.stdout
    alone = run_cli("shell", "--domain", "sample_shelf", "--no-traverse", "-c", code)
    assert alone.returncode == 0, alone.stderr
    assert "elements []" in alone.stdout
