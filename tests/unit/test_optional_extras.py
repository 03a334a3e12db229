"""``pip install archipel`` without extras: the package imports and runs on the memory
adapters, and a provider whose driver is missing is an error naming the extra to install.

Each case runs in a fresh interpreter where the optional libraries cannot be imported
(``sys.modules[name] = None`` makes every import of ``name`` fail, as if not installed).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

OPTIONAL = ["sqlalchemy", "psycopg", "redis", "hiredis", "fastapi", "starlette", "uvicorn", "httpx",
            "sse_starlette", "prometheus_client", "opentelemetry", "watchfiles", "jsonschema"]

PROGRAM = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, Domain, handle
from archipel.errors import ConfigurationError
from archipel.fields import String

domain = Domain(name="Bare")

@domain.aggregate
class Note(BaseAggregate):
    text = String()

@domain.command(part_of=Note)
class Write(BaseCommand):
    text = String()

@domain.command_handler(part_of=Note)
class Notes(BaseCommandHandler):
    @handle(Write)
    def write(self, command):
        note = Note(text=command.text)
        domain.repository_for(Note).add(note)
        return note.id

domain.init(traverse=False)
with domain.domain_context():
    identity = domain.process(Write(text="kept"))
    print(domain.repository_for(Note).get(identity).text)
{extra}
"""


def run(blocked: list[str], extra: str = "") -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(PROGRAM).format(blocked=blocked, extra=textwrap.dedent(extra))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_archipel_runs_in_memory_with_no_optional_library() -> None:
    ran = run(OPTIONAL)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "kept"


@pytest.mark.parametrize(
    ("blocked", "config", "extra"),
    [
        (["sqlalchemy"], {"databases": {"default": {"provider": "sql", "database_uri": "sqlite:///:memory:"}}}, "sql"),
        (["redis"], {"brokers": {"default": {"provider": "redis", "url": "redis://127.0.0.1:1"}}}, "redis"),
    ],
)
def test_a_provider_without_its_driver_names_the_extra(blocked: list[str], config: dict, extra: str) -> None:
    ran = run(blocked, f"""
        try:
            Domain(name="Stored", config={config!r}).init(traverse=False)
        except ConfigurationError as exc:
            print("refused:", exc)
    """)
    assert ran.returncode == 0, ran.stderr
    assert f"pip install 'archipel[{extra}]'" in ran.stdout.splitlines()[-1]
