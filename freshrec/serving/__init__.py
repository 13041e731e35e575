"""The HTTP service: a FastAPI app over the live registry and event log, and its Python client."""
