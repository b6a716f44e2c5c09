"""The Avro contract (.avsc), shipped with the dispatchbus package as data."""
