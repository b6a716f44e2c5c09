"""Plain Kafka clients: topic administration, and the producer and reader the CLI and connectors use."""
