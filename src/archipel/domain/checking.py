"""``Domain.check()`` (Protean's): validate a domain without building its adapters.

It runs what ``init()`` checks (configuration, the model's references and
names, handler wiring, upcaster chains) but connects to nothing, and reports
instead of raising: the first error ``init()`` would raise (archipel stops at
the first one), or, when there is none, the findings of Protean's lint rules
(:mod:`archipel.domain.lint_rules`, :mod:`archipel.domain.lint_smells`: its
codes, elements, messages and levels; those reading the domain's source, over
the IR document: :mod:`archipel.ir.analysis`) and of the ``[lint].rules`` of
the domain, less what ``[lint].suppressions`` and elements' ``suppress_checks``
silence (:mod:`archipel.domain.lint_config`). An IR document that cannot be
built is an error of element ``to_ir``, as in Protean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from archipel.domain.config import validate_config
from archipel.domain.discovery import import_domain_modules
from archipel.domain.lint_config import apply_suppressions, custom_findings, lint_table
from archipel.domain.lint_rules import run_rules
from archipel.domain.router import Router
from archipel.domain.state import DomainState
from archipel.domain.wiring import prepare_model
from archipel.handling.decoding import build_upcasters
from archipel.port import registry as provider_registry

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Checking"]

def _status(errors: list[Any], diagnostics: list[dict[str, Any]]) -> str:
    if errors:
        return "fail"
    levels = {d["level"] for d in diagnostics}
    return "warn" if "warning" in levels else "info" if "info" in levels else "pass"


class Checking(DomainState):
    """Mixin of ``Domain``: :meth:`check`."""

    def check(self, traverse: bool = True) -> dict[str, Any]:
        """Validate the domain and report, without initialising it or its adapters.

        Returns ``{"domain", "status", "errors", "diagnostics", "counts"}``:
        ``status`` is ``"fail"`` (an error), ``"warn"`` (warnings), ``"info"``
        or ``"pass"``; each error has ``code`` (the exception class),
        ``element`` (the step: ``discovery``, ``config``, ``model``,
        ``routing``, ``upcasters``) and ``message``; each diagnostic has ``code``,
        ``category``, ``element`` (the class's qualified name), ``level``,
        ``message`` and ``suggestion``; ``counts`` tallies ``errors``,
        ``warnings`` and ``infos``. With ``traverse=True`` the domain's
        modules are imported first, as ``init()`` does. Diagnostics also carry
        ``rule`` (``rationale``, ``fix``) and, when one is named, ``field``;
        they are sorted by code, element, field and message.

        Raises ``ConfigurationError`` when the ``[lint]`` table is malformed.
        """
        domain = cast("Domain", self)  # a Checking is always part of a Domain
        table = lint_table(self.config)
        errors: list[dict[str, Any]] = []
        diagnostics: list[dict[str, Any]] = []
        built: dict[str, Router] = {}

        def validate() -> None:
            validate_config(
                self.config,
                database_providers=provider_registry.providers("database"),
                broker_providers=provider_registry.providers("broker"),
                event_store_providers=provider_registry.providers("event_store"),
                cache_providers=provider_registry.providers("cache"),
            )

        def discover() -> None:
            if traverse:
                import_domain_modules(self._module_name, self._module_file)

        with self._init_lock:  # not while another thread runs init()
            for element, step in (
                ("discovery", discover),
                ("config", validate),
                ("model", lambda: prepare_model(domain)),
                ("routing", lambda: built.setdefault("router", _build_router(domain))),
                ("upcasters", lambda: built.setdefault("upcasting", self._check_upcasters(domain, built["router"]))),
            ):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - reported, not raised: check()'s contract
                    errors.append({"code": type(exc).__name__, "element": element, "message": str(exc)})
                    break
        router = built.get("router")
        if not errors and router is not None:
            from archipel.ir.builder import IRBuilder  # noqa: PLC0415 - the IR sits above the domain

            found = run_rules(domain, router, built.get("upcasting"))
            # the source rules and the domain's own rules read the IR document, as Protean's do
            builder = IRBuilder(domain, router=router, upcasting=built.get("upcasting"))
            try:
                ir = builder.build(diagnostics=False)
            except Exception as exc:  # noqa: BLE001 - reported as Protean reports it (element "to_ir")
                errors.append({"code": type(exc).__name__, "element": "to_ir", "message": str(exc)})
            else:
                found += builder.source_findings(ir)
                found += custom_findings(table, ir)
                diagnostics = apply_suppressions(domain, found, table)
        warnings = sum(1 for d in diagnostics if d["level"] == "warning")
        return {
            "domain": self.name,
            "status": _status(errors, diagnostics),
            "errors": errors,
            "diagnostics": diagnostics,
            "counts": {"errors": len(errors), "warnings": warnings, "infos": len(diagnostics) - warnings},
        }

    def _check_upcasters(self, domain: Domain, router: Router) -> Any:
        """Check the upcaster chains against ``router`` (they read the domain's routing tables)."""
        if self._initialized:
            return build_upcasters(domain)  # an initialised domain's router is already complete
        previous = self.router
        self.router = router  # nothing routes through an uninitialised domain meanwhile
        try:
            return build_upcasters(domain)
        finally:
            self.router = previous


def _build_router(domain: Domain) -> Router:
    router = Router(domain)
    router.build()
    return router
