"""Allow ``python -m probes``."""

from probes.cli.early import console_main

console_main()
