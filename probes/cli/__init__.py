"""The command line: the only code that prints, exits or handles signals (cli/main.py
dispatches; cli/env.py is what every command may touch)."""
