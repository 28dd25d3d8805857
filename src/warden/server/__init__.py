"""The HTTP edge: ASGI app, listener config, request/response translation."""
