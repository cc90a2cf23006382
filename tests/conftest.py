"""Test-session wiring: the shared plugin (-p shared.testing) starts the real servers."""
