"""Packaging: runtime layer, model layer and function code as deterministic zips, plus the size budget."""
