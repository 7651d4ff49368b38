"""credreg contracts shared by every service: events, credentials, Kafka and MongoDB adapters."""
