"""fedprobe exporters: the Prometheus exporter lands here (see issue 6)."""
