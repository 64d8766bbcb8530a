"""The sandbox's HTTP APIs: one module per service, routed by api.app."""
