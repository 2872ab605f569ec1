"""Supervision dashboard, effectiveness reports, ETR refit and exports."""
