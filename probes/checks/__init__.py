"""Judging what a run found and saying it the Nagios way; never a cloud call."""
