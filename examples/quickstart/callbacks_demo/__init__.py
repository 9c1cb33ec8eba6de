"""A weighted-loss trainer that also reports per-field errors (used by all_callbacks.yaml)."""
