"""The guest side of the probe: the user-data script, and reading its report back."""
