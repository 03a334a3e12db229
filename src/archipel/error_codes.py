"""The diagnostic codes archipel's exceptions carry, with why each matters and how to fix it.

Protean 0.18's runtime codes (``protean.ir.diagnostics.REGISTRY``, kinds ``raise`` and
``staleness``), so a ported program that reads ``exc.code`` reads the same value. An
exception carries ``codes`` (every code a raise attaches), ``code`` (the single one, or
None) and ``location`` (the class that raised it); ``exc.rationale`` and ``exc.fix`` come
from :data:`CODES` (None for a code not listed here: one a program chose itself). The lint
codes of ``Domain.check()`` live in :mod:`archipel.domain.lint_catalog`. Only the standard
library: :mod:`archipel.errors` reads it.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CODES", "CodeSpec", "INVARIANT_POST_FAILED", "INVARIANT_PRE_FAILED", "VALUE_OBJECT_INVARIANT_FAILED"]


class CodeSpec(NamedTuple):
    """What a code is: its kind (``raise``, ``staleness``), why it matters, how to fix it,
    what it means (one sentence) and its level (``error``, or ``warning`` for staleness)."""

    kind: str
    rationale: str
    fix: str
    meaning: str
    level: str


#: the code a failed ``@invariant.pre`` carries unless it names its own (``code=``)
INVARIANT_PRE_FAILED = "INVARIANT_PRE_FAILED"
#: the code a failed ``@invariant.post`` of an aggregate, entity or domain service carries
INVARIANT_POST_FAILED = "INVARIANT_POST_FAILED"
#: the code a failed ``@invariant.post`` of a value object carries
VALUE_OBJECT_INVARIANT_FAILED = "VALUE_OBJECT_INVARIANT_FAILED"

CODES: dict[str, CodeSpec] = {
    'CONFIG_AMBIGUOUS_ELEMENT_NAME': CodeSpec('raise', 'A short element name that matches more than one registered element cannot be resolved to a single element, so the lookup is ambiguous.', 'Look the element up by its fully qualified name to disambiguate, or rename one of the colliding elements.', 'A short element name matches more than one registered element.', 'error'),
    'CONFIG_ELEMENT_NOT_REGISTERED': CodeSpec('raise', 'Resolving an element by name requires it to be registered with the domain; an unregistered name has nothing to resolve to.', 'Register the element with the domain before it is looked up, or correct the name to one that is registered.', 'A lookup names an element the domain has not registered.', 'error'),
    'CONFIG_EVENT_STORE_NOT_INITIALIZED': CodeSpec('raise', 'The event store is wired during `domain.init()`; using it before then leaves the store unset.', 'Call `domain.init()` before using the event store.', 'The event store is used before the domain is initialized.', 'error'),
    'CONFIG_INVALID_FIELD_DEFAULTS': CodeSpec('raise', '`field_defaults.sanitize` decides whether String and Text fields that leave `sanitize` unset are cleaned. Reading a malformed value as `false` would turn a typo into a silent fail-open, so the value is rejected at load time instead.', 'Write `[field_defaults]` as a table and give `sanitize` a boolean, or one of the strings `true`/`1`/`yes`/`on`/`false`/`0`/`no`/`off`, or the empty string, which reads as false and is what `${VAR|}` resolves to when the variable is unset.', 'The `[field_defaults]` config section is malformed.', 'error'),
    'CONFIG_UNRESOLVED_ENV_VAR': CodeSpec('raise', 'A `${VAR}` placeholder in configuration is substituted from the environment at load time; with the variable unset and no default given, it resolves to nothing.', 'Set the environment variable in the runtime environment, or give the placeholder a default with `${VAR|default}`.', 'A `${VAR}` reference in configuration resolves to no value.', 'error'),
    'INVARIANT_POST_FAILED': CodeSpec('raise', 'An `@invariant.post` states a condition that must hold once an aggregate, entity, or domain service is built, changed, or run; the resulting state broke that condition.', 'Correct the state so the post-condition holds, or catch the `ValidationError`. The error messages name what failed.', 'A post-condition invariant on an aggregate, entity, or domain service did not hold.', 'error'),
    'INVARIANT_PRE_FAILED': CodeSpec('raise', 'An `@invariant.pre` guards the state required before an aggregate, entity, or domain service is changed or run; the change was attempted while that guard did not hold.', 'Satisfy the pre-condition first, or catch the `ValidationError` and correct the input. The error messages name what failed.', 'A pre-condition invariant on an aggregate, entity, or domain service did not hold.', 'error'),
    'IR_STALE': CodeSpec('staleness', "The materialized `.archipel/ir.json` baseline no longer matches the live domain's checksum, so anything reading the baseline (a compatibility diff, or an agent inspecting the contract) sees a stale view of the domain.", 'Regenerate the baseline with `archipel-check-staleness --fix` (or `archipel ir show --domain <domain> --canonical`) and commit the updated file.', 'The materialized IR baseline is out of date with the live domain.', 'warning'),
    'UNSUPPORTED_ELEMENT_CLASS': CodeSpec('raise', 'Only classes carrying a domain `element_type` can be registered; a plain class has no element type for the domain to register.', 'Decorate the class as a domain element (e.g. `@domain.aggregate`) before registering it, or register a valid element class.', 'Registration was given a class that is not a domain element.', 'error'),
    'USAGE_CACHE_BACKED_NO_REPOSITORY': CodeSpec('raise', 'A cache-backed projection is served from a cache, not a provider, so it has no repository.', 'Use `cache_for()` to write and `view_for()` to read a cache-backed projection; `repository_for()` is for provider-backed elements.', 'A repository was requested for a cache-backed projection.', 'error'),
    'USAGE_DUPLICATE_DATABASE_MODEL': CodeSpec('raise', 'An aggregate maps to one database model per database; registering a second model for the same aggregate and database makes the mapping ambiguous.', 'Register one database model per aggregate per database, or target a different database on the duplicate model.', 'Two database models target the same aggregate and database.', 'error'),
    'USAGE_ELEMENT_NOT_REGISTERED': CodeSpec('raise', 'A runtime accessor resolves the element it is given against the registry; an unregistered element, or a name string instead of the class, has no entry to resolve.', 'Pass a registered element class to the accessor, and register the element with the domain first.', 'An accessor was asked for an element the domain has not registered.', 'error'),
    'USAGE_ENRICHER_NOT_CALLABLE': CodeSpec('raise', 'An enricher is invoked to augment a message or aggregate, so it has to be callable; a non-callable value cannot be invoked.', 'Register a callable (a function or a callable object) as the enricher.', 'A registered enricher is not callable.', 'error'),
    'USAGE_NOT_A_PROJECTION': CodeSpec('raise', '`view_for` and `connection_for` operate on projections; an element of another type has no read view or projection connection.', "Call the accessor with a projection, or use the accessor that matches the element's type.", 'A projection-only accessor was given a non-projection element.', 'error'),
    'USAGE_UNKNOWN_ELEMENT_TYPE': CodeSpec('raise', 'The domain builds elements through a fixed set of type factories; a type outside that set has no factory to build it.', 'Use one of the supported domain element types.', 'An element factory was requested for an unknown element type.', 'error'),
    'VALUE_OBJECT_INVARIANT_FAILED': CodeSpec('raise', 'A value object validates its invariants at construction and is immutable afterward; the values it was built from broke one of those invariants.', 'Build the value object from values that satisfy its invariants, or catch the `ValidationError`. The error messages name what failed.', 'An invariant on a value object did not hold when it was built.', 'error'),
}
