"""Where a request comes from: the one place that reads the client's address.

Behind a TLS proxy the peer address is the proxy's. Set ``ALLIANCE_TRUSTED_PROXIES`` to the number
of proxies in front of the server (nginx or Caddy on the same host: 1); the address is then taken
from ``X-Forwarded-For``, that many entries from the right. Entries further left are written by
the client and could be forged, so they are never used.
"""

from __future__ import annotations

from ipaddress import ip_address

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address for lockout and the audit trail (None without a request)."""
    if request is None:
        return None
    peer = request.META.get("REMOTE_ADDR") or None
    hops = getattr(settings, "TRUSTED_PROXIES", 0)
    if not hops:
        return peer
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return peer
    candidate = forwarded[-hops]
    try:
        return str(ip_address(candidate))
    except ValueError:
        return peer
