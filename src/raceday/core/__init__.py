"""Settings, logging, clocks, New Zealand time and the HTTP server runner: what every layer stands on."""
