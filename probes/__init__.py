"""fedprobe: federated cloud monitoring probes."""

__version__ = "0.1.0"
