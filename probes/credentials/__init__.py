"""Reading credentials: X509 proxies, VOMS attribute certificates, voms-clients."""
