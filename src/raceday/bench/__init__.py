"""Benchmarks (not tests): the pipeline, the REST API under load, the NZ TAB client."""
