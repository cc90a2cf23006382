"""internal."""
