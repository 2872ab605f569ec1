"""alliance.urls plus ``/bench/bare/``: a bare Django view inserting one row (the baseline)."""

from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alliance.urls import urlpatterns as app_patterns


@csrf_exempt
@require_POST
def bare_insert(request):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare (at, v) VALUES (now(), %s)", [len(request.body)])
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare_insert), *app_patterns]
