"""X509 proxies and VOMS attribute certificates: reading, checking, and the voms-clients tools."""
