"""Analysis of a domain's source code (``ast``), for what Protean 0.18 derives from it.

- :mod:`~archipel.ir.analysis.edges`: the ``method_edges`` of the IR (an aggregate's or
  entity's method ``raises`` events; a handler's method ``invokes`` a cluster method);
- :mod:`~archipel.ir.analysis.producers` and :mod:`~archipel.ir.analysis.coupling`: the
  ``archipel check`` rules that read method bodies and imports (``UNRAISED_EVENT``,
  ``UNSOURCED_PROJECTION_FIELD``, ``UNINDEXED_FILTER_PATH``,
  ``HANDLER_PERSISTS_AND_CALLS_OUT``, ``INFRA_IMPORT_IN_DOMAIN``, ``ADAPTER_CALL_IN_DOMAIN``);
- below them, one layer each: :mod:`~archipel.ir.analysis.sources` (module -> parsed tree),
  :mod:`~archipel.ir.analysis.classes` (class -> its methods),
  :mod:`~archipel.ir.analysis.symbols` (name -> dotted path),
  :mod:`~archipel.ir.analysis.facts` (method body -> calls, attribute writes, constructions),
  and :mod:`~archipel.ir.analysis.view` bundling them for one build.

Source is read as written, never executed or imported beyond what Python already
imported. It fails open: a class without readable source (made in memory, by
``type()``, in a module that does not parse) contributes no edge and no finding.
"""
