"""credreg issuer service: Issues signed micro-credentials and publishes credential.issued events."""
