"""credreg revocation service: Revokes, suspends, reinstates and expires credentials; serves status lists."""
