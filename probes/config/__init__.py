"""Where a site's settings come from and what they are."""
