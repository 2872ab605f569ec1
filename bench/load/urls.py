"""alliance.urls plus two baselines for bench/load/run.py.

``/bench/bare/``     a bare Django view inserting one row (the baseline of issue 7).
``/bench/audited/<client>/``  the floor of issue 16: what every clinical write must do and
                     nothing else. A signed-in user, the visibility check (the client, found
                     through the visibility rule of ``alliance.care.visibility``, in the same one short statement
                     as the rating's lookup uses: 404 otherwise),
                     one row inserted and its audit event appended to the hash chain, in one
                     transaction. No form, no scoring, no episode lock, no task.
"""

from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import Http404, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alliance.audit.services import client_ip, record
from alliance.care.visibility import visible_client_id
from alliance.urls import urlpatterns as app_patterns


def _insert(request) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare (at, v) VALUES (CURRENT_TIMESTAMP, %s) RETURNING id",
            [len(request.body)],
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
def audited_insert(request, public_id: str):
    with transaction.atomic():
        if visible_client_id(request.user, public_id) is None:
            raise Http404("No such client")
        row = _insert(request)
        agency_id = request.user.membership.agency_id
        record(request.user, agency_id, "bench.inserted", ("bench", row), client_ip(request))
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare_insert),
    path("bench/audited/<str:public_id>/", audited_insert),
    *app_patterns,
]
