"""Query criteria and results shared by repositories and adapters."""

from archipel.query.q import F, Q
from archipel.query.results import Criteria, QuerySet, ResultSet

__all__ = ["F", "Q", "Criteria", "QuerySet", "ResultSet"]
