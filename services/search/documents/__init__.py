"""Knowledge documents: upload, parse, chunk, embed in the worker, delete."""
