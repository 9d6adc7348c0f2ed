"""MediaMTX: finding the binary, running it as a supervised child, and
driving it through its Control API (paths, sources, health, breaker)."""
