"""Alliance: client feedback and outcome management for psychotherapy (PCOMS)."""

__version__ = "0.1.0"
