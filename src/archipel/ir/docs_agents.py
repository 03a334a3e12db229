"""``archipel docs generate --type agents``: the ``AGENTS.md`` pack of hard rules (Protean's).

One "do not" rule per error-level code archipel's exceptions carry
(:mod:`archipel.error_codes`), built from the code's meaning, rationale and fix only,
sorted by code: an agent writing code for an archipel project learns what archipel
refuses. Deterministic: no IR, no time, the version in the header.
"""

from __future__ import annotations

from archipel.error_codes import CODES

__all__ = ["generate_agents_md"]

_SUMMARY = (
    "Hard rules for writing code in an archipel project. archipel raises an error "
    "when a rule below is broken, so do not write code that breaks one. Each "
    "rule ends with the diagnostic code archipel reports, in parentheses."
)


def generate_agents_md(*, version: str) -> str:
    """The ``AGENTS.md`` text for archipel ``version``."""
    lines = [f"# archipel {version}", "", f"> {_SUMMARY}", "", "## Do not break these rules", ""]
    for code in sorted(code for code, spec in CODES.items() if spec.level == "error"):
        spec = CODES[code]
        lines.append(
            f"- **Do not** write code that causes this error: {spec.meaning} "
            f"{spec.rationale} To comply: {spec.fix} (`{code}`)"
        )
    return "\n".join(lines) + "\n"
