"""What a run leaves in files: written whole or not at all."""
