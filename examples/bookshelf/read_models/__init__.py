"""Read models (projections), kept up to date by projectors and read with ``domain.query_for``."""
