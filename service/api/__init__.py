"""The HTTP API: app factory, routes, request schemas and the one error envelope."""
