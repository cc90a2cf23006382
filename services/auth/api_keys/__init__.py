"""api_keys."""
