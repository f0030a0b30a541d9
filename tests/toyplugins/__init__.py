"""Toy scheduler plugins, each in one file: proof that a plugin is added without touching the core."""
