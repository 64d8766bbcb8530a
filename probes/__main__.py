"""Allow ``python -m probes``."""

from probes.cli import console_main

console_main()
