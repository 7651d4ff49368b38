"""The notifier's real adapters: MongoDB repositories and the signed-webhook sender."""
