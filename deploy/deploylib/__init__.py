"""Helpers behind the deployment files: the settings inventory and a kustomize renderer for the tests."""
