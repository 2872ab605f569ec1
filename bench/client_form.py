"""Benchmark of the client's form by link: server time and bytes per page.

Builds a throw-away SQLite database with one client and a session, then measures, median of
``--repeats``:

* GET of the link form (token lookup, instrument, template) and the POST that stores the rating
  and spends the link (a fresh link per repetition);
* baselines in the same run: a bare view rendering four range inputs with a minimal template
  (no middleware, no database), and the login page through the whole stack (middleware, a new
  database connection per request, templates);
* the bytes the page needs in total (HTML + the one stylesheet + the one script).

It prints the ratios link page/baseline. Run: ``python -m bench client_form``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.caseload import setup_django

BASELINE_TEMPLATE = """<!doctype html><form method="post">{% csrf_token %}
{% for key in keys %}<label for="{{ key }}">{{ key }}</label>
<input type="range" id="{{ key }}" name="{{ key }}" min="0" max="10" step="0.1">{% endfor %}
<button>Send</button></form>"""
BUDGET = 60 * 1024


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench client_form")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(folder))
        return run(args.repeats)


def run(repeats: int) -> int:
    from django.contrib.staticfiles import finders
    from django.http import HttpResponse
    from django.template import engines
    from django.test import Client as Browser
    from django.test import RequestFactory

    from alliance.accounts.models import Agency, Role
    from alliance.accounts.services import create_member
    from alliance.care.services import create_client, start_session
    from alliance.feedback import services

    agency = Agency.objects.create(name="Bench forms")
    therapist = create_member(agency, "formbench", "bench-password-1", Role.THERAPIST)
    client = create_client(therapist, agency, display_code="F0001", therapist=therapist)
    session = start_session(therapist, client)
    keys = ("individually", "interpersonally", "socially", "overall")
    template = engines["django"].from_string(BASELINE_TEMPLATE)

    def baseline(request):
        return HttpResponse(template.render({"keys": keys}, request))

    factory = RequestFactory()
    get_times, post_times, base_times, login_times = [], [], [], []
    html = ""
    for number in range(repeats):
        new = services.create_link(therapist, session, instrument="ors")
        browser = Browser()
        started = time.perf_counter()
        page = browser.get(f"/f/{new.token}/")
        get_times.append(time.perf_counter() - started)
        html = page.content.decode()
        key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html).group(1)
        data = {f"ors-{k}": "6.5" for k in keys} | {"confirmed": "1", "idempotency_key": key}
        started = time.perf_counter()
        done = browser.post(f"/f/{new.token}/", data)
        post_times.append(time.perf_counter() - started)
        assert done.status_code == 200, done.status_code
        # Each repetition edits the same session's ORS: delete it so every POST stores anew.
        session.administrations.all().delete()
        started = time.perf_counter()
        baseline(factory.get("/"))
        base_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        Browser().get("/login/")
        login_times.append(time.perf_counter() - started)
        del number
    css = Path(finders.find("alliance/alliance.css")).stat().st_size
    js = Path(finders.find("alliance/alliance.js")).stat().st_size
    total = len(html.encode()) + css + js
    base = median_ms(base_times)
    login = median_ms(login_times)
    print(f"client form by link, median of {repeats}:")
    print(f"  baseline (bare form view):   {base:7.2f} ms")
    print(f"  login page, full stack:      {login:7.2f} ms  ({login / base:5.1f}x)")
    print(
        f"  GET link form:               {median_ms(get_times):7.2f} ms  ({median_ms(get_times) / base:5.1f}x)"
    )
    print(
        f"  POST rating + spend link:    {median_ms(post_times):7.2f} ms  ({median_ms(post_times) / base:5.1f}x)"
    )
    print(
        f"  page bytes: HTML {len(html.encode())} + CSS {css} + JS {js} = {total} "
        f"({total / BUDGET:.0%} of the 60 KB budget, uncompressed)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
