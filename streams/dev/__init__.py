"""Development-only tools: brokers, demo, synthetic data."""
