"""The only public entry: routing, authentication, rate limits, merged OpenAPI."""
