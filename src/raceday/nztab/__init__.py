"""The NZ TAB affiliates API: typed models, the HTTP client, and an offline simulator."""
