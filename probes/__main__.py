"""Allow ``python -m probes``."""

from probes.cli.main import console_main

console_main()
