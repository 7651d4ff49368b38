"""The notifier's adapters: MongoDB repositories, the webhook sender and targets, metrics, fakes."""
