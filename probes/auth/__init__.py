"""Logging in: Keystone (password, application credential, token, OIDC, X509/VOMS)."""
