"""Guards for the whole test suite: no unregistered program, no traffic off the machine."""
