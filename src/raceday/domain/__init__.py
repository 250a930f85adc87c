"""The race-day domain as pure functions: rows, money flow, the transform, schedules."""
