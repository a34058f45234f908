"""Member insight and program analytics: reports in DuckDB over the operational data."""
