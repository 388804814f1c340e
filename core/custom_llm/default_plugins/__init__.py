"""Core's own features, registered through the same plugin manager as external plugins."""
