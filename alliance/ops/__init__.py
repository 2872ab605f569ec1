"""Operations: the health endpoint, request ids and the log format (docs/deployment.md).

Nothing here reads clinical records: monitoring and logs must be safe to ship to a log collector
or a monitoring service outside the clinic's care systems.
"""
