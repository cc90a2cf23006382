"""Development tooling, never shipped in an image: the `make run` supervisor, the embedded servers, the CLI."""
