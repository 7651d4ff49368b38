"""credreg issuer service: signs micro-credentials and publishes credential.issued."""
