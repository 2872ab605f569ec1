"""One router per resource; ``alliance.api.api`` mounts them in this order (the OpenAPI order)."""
