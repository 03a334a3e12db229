"""The unit of work (Protean's ``protean.core.unit_of_work``): ``UnitOfWork``.

The code lives in :mod:`archipel.handling.unit_of_work` (it writes through the
database port, which the pure ``core`` layer never touches). This module is
the documented Protean path (a façade; see docs/porting.md).
"""

from archipel.handling.unit_of_work import UnitOfWork

__all__ = ["UnitOfWork"]
