"""Test-session wiring: the shared plugin (-p tests.support.plugin) starts the real servers."""
