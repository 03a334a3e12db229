"""The catalogue of ``Domain.check()``'s lint diagnostics: category, level, rationale and fix.

Protean 0.18's codes and texts (``protean.ir.diagnostics.REGISTRY``, its ``lint`` kind), so a
ported program's checks, suppressions and CI filters read the same. Each diagnostic is built
by :func:`diagnostic`: ``{"code", "category", "element", "level", "message", "rule":
{"rationale", "fix"}, "suggestion"}`` plus ``field`` when it names one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["CATALOG", "IMPERATIVE_VERBS", "NON_NOUN_AGGREGATE_SUFFIXES", "Spec", "diagnostic"]


class Spec(NamedTuple):
    """What a code is: its category, default level, and why it matters and how to fix it."""

    category: str
    level: str
    rationale: str
    fix: str


CATALOG: dict[str, Spec] = {
    'ADAPTER_CALL_IN_DOMAIN': Spec('bounded_context', 'warning', 'Domain elements must not depend on concrete infrastructure adapters; calling into `archipel.adapters` from a domain method couples the domain layer to a specific adapter at runtime and breaks the ports-and-adapters boundary.', "Remove the `archipel.adapters` call from the domain method. Depend on domain-layer abstractions and let the adapter be wired through the domain's provider configuration instead."),
    'AGGREGATE_NOT_NOUN': Spec('naming_conventions', 'info', 'An aggregate models a thing in the domain, so a noun name (`Order`) reads truthfully; a gerund, verb, or adjective (`OrderProcessing`) reads like a process or capability rather than an entity.', 'Rename the aggregate to the domain-concept noun it represents (e.g. `Order` rather than `OrderProcessing`).'),
    'AGGREGATE_NO_INVARIANTS': Spec('aggregate_design', 'info', 'An aggregate is a consistency boundary. With no pre- or post-invariants it enforces no business rules and is usually an anemic data holder rather than a true aggregate.', 'Add one or more `@invariant.pre` or `@invariant.post` methods expressing the business rules the aggregate must always satisfy, or reconsider whether this concept is an aggregate at all.'),
    'AGGREGATE_TOO_LARGE': Spec('aggregate_design', 'info', 'A large aggregate is a consistency boundary and contention hotspot; oversized clusters are hard to keep transactionally consistent.', 'Split the aggregate into smaller aggregates, or raise `[lint] aggregate_size_limit` if the size is intentional.'),
    'AGGREGATE_WITHOUT_COMMAND_HANDLER': Spec('handler_completeness', 'warning', 'An aggregate with no command handler has no write path, so nothing can change its state.', 'Add a command handler for the aggregate, or model it as a read-only projection if no writes are expected.'),
    'CIRCULAR_CLUSTER_DEPENDENCY': Spec('bounded_context', 'warning', 'Circular identity references between aggregate clusters prevent independent decomposition, deployment, and event sourcing of the aggregates.', 'Break the cycle by replacing one direction of the reference with a domain event or a process manager that coordinates the two aggregates asynchronously.'),
    'COMMAND_HANDLER_CROSS_CLUSTER': Spec('handler_completeness', 'warning', "A command handler that processes another cluster's command puts that aggregate's write path outside its consistency boundary.", 'Move the command handler into the owning cluster, or model the interaction as an event reaction across the boundary.'),
    'COMMAND_NOT_IMPERATIVE': Spec('naming_conventions', 'info', 'A command expresses an intent to act, so a verb-first imperative name (`PlaceOrder`) reads truthfully; a noun-like name (`OrderCreation`) obscures the intent.', 'Rename the command to a verb-first imperative phrase (e.g. `PlaceOrder`).'),
    'CROSS_AGGREGATE_REFERENCE': Spec('aggregate_design', 'warning', "Aggregates coordinate other aggregates by identity, not by object reference (Vernon's Rule 3). A `Reference` to another aggregate's root couples the two into one object graph and invites a single transaction to span both clusters. The compliant reference is a child entity pointing back at its own aggregate root, where the target is the element's own cluster.", 'Hold the other aggregate by its identifier instead of a `Reference`. Replace `Reference(<Other>)` with an `Identifier` field (for example `<other>_id: Identifier()`) and load the other aggregate through its own repository when needed.'),
    'DEPRECATED_CONFIG': Spec('deprecation', 'info', 'The email subsystem is deprecated and scheduled for removal in v0.19.0.', 'Migrate off the deprecated configuration block before the scheduled removal version.'),
    'DEPRECATED_ELEMENT': Spec('deprecation', 'info', 'A deprecated element is scheduled for removal; code depending on it will break at the removal version.', 'Migrate to the replacement element before the scheduled removal version.'),
    'DEPRECATED_EMAIL': Spec('deprecation', 'info', 'The email subsystem is deprecated and scheduled for removal in v0.19.0.', 'Notify from an event handler or subscriber that calls an application-level notification service instead.'),
    'DEPRECATED_FIELD': Spec('deprecation', 'info', 'A deprecated field is scheduled for removal; code reading or writing it will break at the removal version.', 'Migrate to the replacement field before the scheduled removal version.'),
    'DEPRECATED_IMPORT': Spec('deprecation', 'info', 'A deprecated import surface is scheduled for removal; code using it will break at the removal version.', 'Stop using the deprecated import surface before the scheduled removal version.'),
    'DEPRECATED_OPTION': Spec('deprecation', 'info', 'The option is a deprecated alias scheduled for removal.', 'Use `event_sourced` instead of the deprecated alias.'),
    'ES_AGGREGATE_NO_EVENTS': Spec('aggregate_design', 'warning', 'An event-sourced aggregate reconstitutes its state by replaying its events. With no events registered it can record no state changes and cannot be rebuilt from its stream.', "Declare at least one domain event with `part_of=<Aggregate>` and raise it from the aggregate's behaviour, or drop `event_sourced=True` if the aggregate is not meant to be event-sourced."),
    'ES_EVENT_MISSING_APPLY': Spec('handler_completeness', 'warning', 'An event-sourced aggregate rebuilds its state by applying events; an event without an @apply handler cannot be applied. Raising or replaying it raises IncorrectUsageError at runtime.', 'Add an @apply method on the aggregate for this event.'),
    'EVENT_HANDLER_FOREIGN_EVENT': Spec('handler_completeness', 'warning', "An event handler should react to events of its own aggregate cluster. Handling another cluster's event couples two aggregates through the handler and is often better expressed as a Process Manager coordinating the two.", 'Move the handler into the owning cluster, or introduce a ProcessManager that reacts to the source event and issues a command into this cluster.'),
    'EVENT_NOT_PAST_TENSE': Spec('naming_conventions', 'info', 'A domain event records a fact that has already happened, so a past-tense name (`OrderPlaced`) reads truthfully; a gerund (`OrderPlacing`) describes an in-flight action and reads like a command.', 'Rename the event to the past tense (e.g. `OrderPlaced`).'),
    'EVENT_WITHOUT_DATA': Spec('aggregate_design', 'info', 'An event with no fields carries no information beyond its name, so consumers cannot react to what actually changed.', 'Add fields capturing the state change, or confirm the event is intentionally a bare signal.'),
    'HANDLER_PERSISTS_AND_CALLS_OUT': Spec('persistence', 'info', 'A handler method runs inside a Unit of Work, and the transaction opens at the first repository access. An external call after that point holds row locks and a pooled connection for as long as the call takes, and a retry re-runs the whole method, re-issuing the call (ADR-0031).', "Split the method: one that persists, and one that calls out. When the call must follow the write, have the persisting method raise an event and handle that. On a process manager, prefer raising an event for a plain handler to act on, because splitting a transition in two records two transitions where you wanted one. When the method genuinely needs the call's result to compute its write, keep both and pass the remote system's idempotency key so a retry does not duplicate the effect."),
    'HANDLER_TOO_BROAD': Spec('aggregate_design', 'info', 'A handler that handles many message types accretes unrelated responsibilities and becomes hard to reason about.', 'Split the handler into focused handlers, or raise `[lint] handler_breadth_limit` if the breadth is intentional.'),
    'INFRA_IMPORT_IN_DOMAIN': Spec('bounded_context', 'warning', 'Domain elements must not depend on concrete infrastructure adapters; importing from `archipel.adapters` couples the domain layer to a specific adapter and breaks the ports-and-adapters boundary.', "Remove the `archipel.adapters` import from the domain module. Depend on domain-layer abstractions and let the adapter be wired through the domain's provider configuration instead."),
    'LOW_POOL_SIZE': Spec('persistence', 'warning', 'A connection pool smaller than the production default starves concurrent requests under load, so operations queue or fail while waiting for a free connection.', "Raise the provider's `pool_size` to at least the production default for production workloads."),
    'PROCESS_MANAGER_UNCLOSED': Spec('handler_completeness', 'info', 'A process manager with no `end=True` handler never signals completion, so its instances accumulate without being retired.', 'Mark the terminating handler with `end=True` so the process manager closes its instances.'),
    'PROJECTION_WITHOUT_PROJECTOR': Spec('handler_completeness', 'warning', 'A projection with no projector is never populated, so queries against it will always return empty.', 'Add a projector for the projection, or set `externally_populated=True` if it is filled by a subscriber.'),
    'PROJECTOR_HANDLES_ORPHANED_EVENT': Spec('handler_completeness', 'warning', 'A projector handling an event the domain does not register is wired to a type that can never be dispatched. It is usually a stale reference after a rename or removal.', 'Register the event, or remove the handler for the orphaned type from the projector.'),
    'PUBLISHED_NO_EXTERNAL_BROKER': Spec('handler_completeness', 'warning', 'Events marked published are meant to leave the bounded context, but with no external broker configured they are only dispatched internally.', 'Configure `[integration] broker` (a broker of `[brokers]`), or remove `published=True` if the events are internal.'),
    'QUERY_HANDLER_WITHOUT_QUERY': Spec('handler_completeness', 'warning', 'A projection with a query handler but no query has a read path that nothing can invoke, because no query is registered for the handler to serve.', 'Register a `Query(part_of=<projection>)` for the handler to serve, or remove the query handler if the projection needs no read path.'),
    'SUBSCRIBER_NO_STREAMS': Spec('handler_completeness', 'info', 'A subscriber with no stream has nothing to consume, so it is registered but can never be invoked.', "Set the subscriber's `stream`, or remove the subscriber if it is unused."),
    'UNBOUNDED_INDEXED_STRING': Spec('persistence', 'warning', 'An index over an unbounded string field is unportable: the DDL fails on SQL Server, needs a prefix length on MySQL, and is inefficient on PostgreSQL.', 'Give the field a bounded length (`String(max_length=N)`) sized to its domain, or remove it from the index if it does not need to be indexed.'),
    'UNHANDLED_EVENT': Spec('handler_completeness', 'warning', 'An event with no registered handler is published but never consumed, so a state change goes unobserved.', 'Register an event handler, projector, or process manager for this event, or mark it `published=True` if it is intentionally external.'),
    'UNINDEXED_FILTER_PATH': Spec('persistence', 'warning', 'A repository filter on a field with no covering index forces a full table scan on a relational backend. The cost is invisible on small development data and grows with the production table.', 'Add an index led by this field to the aggregate (`indexes=[Index("field")]`), or suppress the check when the table is small or the query is a one-off (admin/reporting).'),
    'UNRAISED_EVENT': Spec('handler_completeness', 'info', 'An event that no aggregate or entity method raises is declared and wired but produced by none of them. The check reads only aggregate and entity method bodies, so an event raised from a command handler, subscriber, or module-level factory is outside its scope and still shows here.', 'Raise the event from the aggregate or entity method that makes the change it records, or remove the event if nothing produces it.'),
    'UNSOURCED_PROJECTION_FIELD': Spec('handler_completeness', 'info', 'A projection field that no projector method writes is a dead column: it renders in the read model and carries a type, but nothing ever fills it. The check reads what projector methods write. A construction whose field set it cannot read disables it for the whole projection (a `**kwargs` splat, or a template mapping passed positionally), and when no projector write is observed at all the whole projection is skipped. It works from observed writes, so it is advisory: when the projector writes some fields, a sibling field filled only through a path the check cannot follow (a helper, a dict splat) can still be flagged.', 'Write the field from the projector method that handles the event carrying it, or drop the field from the projection if nothing sources it.'),
    'UNUSED_COMMAND': Spec('handler_completeness', 'warning', 'A command with no handler cannot be processed, so the intent it represents can never be fulfilled.', 'Add a command handler method for this command, or remove the command if it is unused.'),
    'UPCASTER_GAP': Spec('versioning', 'warning', 'Stored payloads at older versions with no upcaster path to the current version fail to deserialize at read time.', 'Add upcasters covering the missing source versions.'),
    'VALUE_OBJECT_MUTABLE_FIELD': Spec('aggregate_design', 'warning', 'Value objects are compared by value and must be immutable. A `List` or `Dict` field gives the value object mutable internal state, so two instances that should be equal can diverge and value equality no longer holds.', 'Replace the mutable collection with an immutable representation, or move the collection onto the containing entity or aggregate. If the values form a concept with its own identity, model them as an entity referenced by the aggregate instead.'),
}

#: A command name starts with one of these (then a capital letter or its end): COMMAND_NOT_IMPERATIVE
IMPERATIVE_VERBS: frozenset[str] = frozenset({
    'accept', 'activate', 'add', 'apply', 'approve', 'archive', 'assign', 'book',
    'cancel', 'change', 'charge', 'close', 'complete', 'confirm', 'convert', 'create',
    'credit', 'deactivate', 'debit', 'decline', 'delete', 'deliver', 'deposit', 'disable',
    'dispatch', 'enable', 'enroll', 'escalate', 'fail', 'freeze', 'generate', 'grant',
    'hire', 'initiate', 'invite', 'make', 'mark', 'merge', 'notify', 'onboard',
    'open', 'pay', 'place', 'process', 'publish', 'reactivate', 'record', 'reduce',
    'refund', 'register', 'reject', 'release', 'remove', 'rename', 'renew', 'reopen',
    'request', 'reserve', 'reset', 'restock', 'restore', 'resume', 'revoke', 'schedule',
    'send', 'set', 'ship', 'split', 'start', 'stop', 'submit', 'suspend',
    'transfer', 'unassign', 'update', 'validate', 'verify', 'withdraw',
})

#: An aggregate name ending so reads as a verb, gerund or adjective: AGGREGATE_NOT_NOUN
NON_NOUN_AGGREGATE_SUFFIXES: tuple[str, ...] = ('ing', 'ify', 'ize', 'ise', 'ive', 'ous', 'able', 'ible', 'ful')


def diagnostic(
    code: str,
    *,
    element: str,
    message: str,
    field: str | None = None,
    level: str | None = None,
    suggestion: str | None = None,
) -> dict[str, Any]:
    """One finding of ``code`` on ``element`` (a qualified class name, or the domain's name).

    ``level`` defaults to the code's; ``suggestion`` to its fix (Protean's shape).
    """
    spec = CATALOG[code]
    found: dict[str, Any] = {
        "code": code,
        "category": spec.category,
        "element": element,
        "level": level if level is not None else spec.level,
        "message": message,
        "rule": {"rationale": spec.rationale, "fix": spec.fix},
        "suggestion": suggestion if suggestion is not None else spec.fix,
    }
    if field is not None:
        found["field"] = field
    return found
