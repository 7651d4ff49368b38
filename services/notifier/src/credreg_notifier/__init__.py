"""credreg notifier service: signed webhooks and live streams for wallets."""
