"""The benchmarks here are scripts, not tests: pytest collects none of them."""
collect_ignore_glob = ["*.py"]
