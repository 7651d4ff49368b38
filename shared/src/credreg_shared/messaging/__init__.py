"""Kafka messaging for credreg: publisher port and adapter, topic admin, the consumer runner."""
