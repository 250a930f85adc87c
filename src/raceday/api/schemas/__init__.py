"""Response and request models of the REST API, one module per resource: the field names the web client
reads (domain §7). Every amount is integer cents, percentages are 0-100, odds are decimal odds, instants
are ISO 8601 UTC ending in `Z`. The examples are the real NZ TAB sample race (Awapuni Synthetic R1,
2025-07-17) as raceday stores it.
"""
