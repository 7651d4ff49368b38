"""credreg registry service: the portfolio, search and verify view of every event."""
