"""alliance.urls plus two baselines for bench/load/run.py.

``/bench/bare/``     a bare Django view inserting one row (the baseline the issue names).
``/bench/audited/``  the least a rating must cost by the other rules of the same issue: a signed-in
                     user, one row inserted and its audit event appended to the hash chain, in one
                     transaction. Nothing else (no form, no scoring, no visibility, no task).
"""

from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alliance.audit.services import client_ip, record
from alliance.urls import urlpatterns as app_patterns


def _insert(request) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare (at, v) VALUES (now(), %s) RETURNING id", [len(request.body)]
        )
        return cursor.fetchone()[0]


@csrf_exempt
@require_POST
def bare_insert(request):
    with transaction.atomic():
        _insert(request)
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
@require_POST
@login_required
def audited_insert(request):
    with transaction.atomic():
        row = _insert(request)
        agency_id = request.user.membership.agency_id
        record(request.user, agency_id, "bench.inserted", ("bench", row), client_ip(request))
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare_insert),
    path("bench/audited/", audited_insert),
    *app_patterns,
]
