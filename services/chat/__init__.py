"""Chat service: Assistants, threads, messages, AI answers, review, buffers."""
