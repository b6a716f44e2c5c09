"""Agency simulators that speak only Kafka topics and the event contract."""
