"""`fedprobe selftest`: a site tests itself against a federation's profile and gets a verdict
(docs/selftest.md). model: what a check ends as; profiles: which checks block joining;
collect: the checks, from the plugins' own code (fast checks, the VM lifecycle); verdict: the
one line and the exit status; render: the terminal output; report: JSON."""
