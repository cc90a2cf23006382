"""Assistant tools (function calling): tenant HTTP endpoints and built-ins the model may call while answering."""
