"""credreg registry service: Consumes every event into the portfolio, search and verify view."""
