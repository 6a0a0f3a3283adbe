"""trunkline benchmarks: `make bench` (python -m bench) prints figures."""
