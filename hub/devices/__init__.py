"""Field devices: identities (public keys), grid binding, status, sessions, chain head."""
