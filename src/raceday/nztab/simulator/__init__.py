"""An offline NZ TAB: generates a race day anchored on now and serves it on the real API paths."""
