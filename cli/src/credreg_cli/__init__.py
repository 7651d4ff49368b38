"""The credreg command line."""
