"""Loads the reactor probe into a service started by a benchmark.

A benchmark puts this folder first on ``PYTHONPATH`` and names an output
file in ``BENCH_PROBE_OUT`` (see ``reactor_probe.py`` beside it); the
interpreter imports this module at start-up, before twistd runs.
"""
import os
import sys

if os.environ.get("BENCH_PROBE_OUT"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reactor_probe

    reactor_probe.install(os.environ["BENCH_PROBE_OUT"])
