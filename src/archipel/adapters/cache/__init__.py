"""Cache adapters (``[caches.<name>] provider = "memory" | "redis"``).

:mod:`.memory` keeps entries in the process, :mod:`.redis` in a Redis
database shared by every process with its ``URI``. Both store a projection's
primitive form (``to_dict()``) as JSON and rebuild it with the projection's
own fields, so ``Decimal``, dates and times come back exactly; a value JSON
would alter (NaN, non-text dict keys) is a ValidationError at ``add``.
"""
