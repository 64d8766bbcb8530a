"""Running a check against a cloud: the VM lifecycle and the fast checks' calls."""
