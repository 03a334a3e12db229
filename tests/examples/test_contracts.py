"""The examples' message contracts: the code must not break what they publish.

Each context keeps ``contract.json`` (written by ``archipel schema dump``) beside
its code; ``archipel schema check`` fails here, as in CI, on a breaking change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTEXTS = [
    ("examples.multi_domain.accounts:accounts_domain", "examples/multi_domain/accounts/contract.json"),
    ("examples.multi_domain.products:products_domain", "examples/multi_domain/products/contract.json"),
    ("examples.multi_domain.sales:sales_domain", "examples/multi_domain/sales/contract.json"),
    ("examples.multi_domain.warehouse:warehouse_domain", "examples/multi_domain/warehouse/contract.json"),
    ("examples.multi_domain.payments:payments_domain", "examples/multi_domain/payments/contract.json"),
    ("examples.multi_domain.delivery:delivery_domain", "examples/multi_domain/delivery/contract.json"),
    ("examples.bookshelf", "examples/bookshelf/contract.json"),
]


def _check(domain: str, contract: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "archipel", "schema", "check", "--domain", domain, "--file", str(contract)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(("domain", "contract"), CONTEXTS, ids=[c[1].split("/")[-2] for c in CONTEXTS])
def test_the_code_keeps_the_recorded_contract(domain: str, contract: str) -> None:
    result = _check(domain, ROOT / contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches" in result.stdout


def test_a_breaking_change_fails_the_check_with_a_readable_diff(tmp_path: Path) -> None:
    domain, contract = CONTEXTS[1]
    recorded = json.loads((ROOT / contract).read_text())
    event = recorded["messages"]["Products.ProductUpdatedIntegrationEvent.v1"]["schema"]
    event["properties"]["weight_grams"] = {"type": "integer"}  # the code "removed" this field
    event["properties"]["sku"] = {"type": "integer"}  # and "changed" this one's type
    changed = tmp_path / "contract.json"
    changed.write_text(json.dumps(recorded))
    result = _check(domain, changed)
    assert result.returncode == 1
    assert "BREAKING Products.ProductUpdatedIntegrationEvent.v1: field 'weight_grams' removed" in result.stdout
    assert "field 'sku' changed" in result.stdout
    assert "2 breaking change(s)" in result.stderr
