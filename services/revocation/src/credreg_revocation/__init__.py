"""credreg revocation service: revoke, suspend, reinstate, expire; status lists."""
