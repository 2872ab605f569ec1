"""Versioned REST API (django-ninja), tokens, imports and webhooks."""
