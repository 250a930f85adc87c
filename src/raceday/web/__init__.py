"""The live dashboard: one page and its script, reading the REST API like any other client."""
