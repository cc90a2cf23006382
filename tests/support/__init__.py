"""Local stand-ins for external providers: they speak the provider's HTTP protocol and record requests."""
