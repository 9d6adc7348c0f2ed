"""Operating the running service: log files, recent errors, diagnostics
and the SSH manhole."""
