"""Query criteria and results shared by repositories and adapters."""

from archipel.query.q import Q
from archipel.query.results import Criteria, QuerySet, ResultSet

__all__ = ["Q", "Criteria", "QuerySet", "ResultSet"]
