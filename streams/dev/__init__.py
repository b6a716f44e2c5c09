"""Development tools, never used by a production worker: the embedded broker, child processes, the demo and
synthetic data (for tests, the demo and the benchmark)."""
