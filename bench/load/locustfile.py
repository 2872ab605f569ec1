"""Locust scenario: therapists open their caseload and submit ratings (ORS then SRS per session).

LOAD_SCENARIO=app   each user signs in as its own therapist and loops: open the caseload, post
                    the ORS of the next free session, post its SRS (idempotency key per post).
LOAD_SCENARIO=bare  each user posts to /bench/bare/ (one INSERT) at the same pace: the baseline;
                    with LOAD_PLAN too, the bare users carry the therapists' session cookies (the
                    baseline then pays for the session and user lookups like the app does).
LOAD_SCENARIO=audited  each user posts to /bench/audited/<client>/ (signed in, the visibility check
                    for one of the user's clients, one INSERT and its audit event in one
                    transaction): the floor of issue 16, what every clinical write must do.
LOAD_PLAN           JSON file written by run.py: logins and session URLs per user.
LOAD_PACE           iterations per second per user (0: flat out); LOAD_CASELOAD=0 skips the GET.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from pathlib import Path

from locust import HttpUser, between, constant_throughput, events, task

SCENARIO = os.environ.get("LOAD_SCENARIO", "app")
PACE = float(os.environ.get("LOAD_PACE", "1"))  # task iterations per second per user; 0 = flat out
PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text()) if os.environ.get("LOAD_PLAN") else {}
SENT_FILE = os.environ.get("LOAD_SENT_FILE", "")
CASELOAD = os.environ.get("LOAD_CASELOAD", "1") == "1"
_slots = itertools.count()
_sent = {"ratings": 0}


@events.test_stop.add_listener
def _write_sent(environment, **kwargs):  # noqa: ARG001
    if SENT_FILE:
        with open(SENT_FILE, "w") as out:
            json.dump(_sent, out)


def _wait():
    return constant_throughput(PACE) if PACE > 0 else between(0, 0)


def _items(low: float, high: float) -> list[str]:
    return [f"{random.uniform(low, high):.1f}" for _ in range(4)]


class Therapist(HttpUser):
    wait_time = _wait()

    def on_start(self):
        self.sessions = []
        if not PLAN:
            return
        me = PLAN["users"][next(_slots) % len(PLAN["users"])]
        self.sessions = list(me["sessions"])
        self.client_id = self.sessions[0].split("/")[2]  # /clients/<public id>/sessions/<n>/
        # run.py signed each user in beforehand: no Argon2 logins inside the measured time.
        self.client.cookies.set("sessionid", me["session"], domain="127.0.0.1", path="/")
        self.client.cookies.set("csrftoken", me["csrf"], domain="127.0.0.1", path="/")
        self.csrf = me["csrf"]

    def _post_rating(self, url: str, instrument: str, keys: list[str], values: list[str]) -> None:
        data = {
            "csrfmiddlewaretoken": self.csrf,
            "instrument": instrument,
            "idempotency_key": uuid.uuid4().hex,
            "confirmed": "1",
            **{f"{instrument}-{key}": value for key, value in zip(keys, values, strict=True)},
        }
        with self.client.post(
            url,
            data,
            name=f"submit {instrument}",
            headers={"Referer": self.host + url},
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 302:
                _sent["ratings"] += 1
                response.success()
            else:
                response.failure(f"status {response.status_code}")

    @task
    def work(self):
        if SCENARIO in ("bare", "audited"):
            # The same shape as the app's iteration: two inserts where it posts two ratings.
            # The audited floor checks that the user may see a client (the first of the plan).
            url = "/bench/bare/"
            if SCENARIO == "audited":
                url = f"/bench/audited/{self.client_id}/"
            for _ in range(2):
                with self.client.post(
                    url,
                    data="x",
                    name=f"{SCENARIO} insert",
                    allow_redirects=False,
                    catch_response=True,
                ) as response:
                    if response.status_code != 200:  # a redirect to sign-in is a failure here
                        response.failure(f"status {response.status_code}")
            return
        if CASELOAD:
            self.client.get("/", name="caseload")
        if not self.sessions:
            return
        url = self.sessions.pop(0)
        self._post_rating(
            url, "ors", ["individually", "interpersonally", "socially", "overall"], _items(2, 8)
        )
        self._post_rating(
            url, "srs", ["relationship", "goals_topics", "approach", "overall"], _items(8, 10)
        )
