"""Cloud drivers: everything that talks to a cloud API lives here, behind drivers.base."""
