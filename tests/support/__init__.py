"""Test support: the pytest plugin (plugin.py), test keys, and local stand-ins for external providers."""
