"""Benchmarks of the bus against raw Kafka and bare Faust pipelines."""
