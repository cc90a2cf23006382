"""The platform's services; each imports only itself and `shared`."""
