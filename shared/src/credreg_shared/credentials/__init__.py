"""Verifiable credentials: VC 2.0 / Open Badges 3.0 model, EdDSA proofs, DIDs, status lists."""
