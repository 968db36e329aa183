"""The Sentinel-1 time-series simulator behind examples/, the tests and the benchmark dataset."""
