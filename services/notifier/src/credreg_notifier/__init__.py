"""credreg notifier service: Notifies wallets of lifecycle events by signed webhooks and live streams."""
