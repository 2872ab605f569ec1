"""Effectiveness pages: science-core numbers, supervisors limited to their teams, attendance."""

from __future__ import annotations

import re

import pytest

from alliance.care.models import Attendance, Session
from alliance.reports.data import ReportFilter, administrations_frame, scoped_episodes
from alliance.science.effectiveness import effectiveness


def value_of(page: str, name: str) -> str:
    match = re.search(rf"<th scope=\"row\">{re.escape(name)}</th><td data-value>([^<]*)</td>", page)
    assert match, f"no row {name!r} on the page"
    return match.group(1)


def test_the_agency_page_shows_the_science_cores_numbers(client, history):
    client.force_login(history.personas.alice)
    page = client.get("/reports/effectiveness/").content.decode()
    expected = effectiveness(history.frame[history.frame["instrument"].isin(["ors", "srs"])])
    overall = expected["overall"]
    assert value_of(page, "Pre-post effect size (mean change / SD of intake)") == (
        f"{overall['es']['value']:.2f}"
    )
    assert value_of(page, "Reliable improvement") == (
        f"{100 * overall['reliable_improvement']['proportion']:.1f}%"
    )
    assert value_of(page, "Episodes with 2+ scores (used for change)") == str(overall["n_used"])
    assert 'data-testid="es-trend"' in page
    assert 'data-testid="therapist-effects"' in page
    assert 'data-testid="change-distribution"' in page
    assert "provisional default model" in page


def test_a_supervisor_report_covers_only_their_teams(client, history):
    p = history.personas
    client.force_login(p.sam)
    page = client.get("/reports/effectiveness/?by=therapist_id").content.decode()
    north = history.frame[
        history.frame["therapist_id"].isin(["T0001", "T0002"])
        & history.frame["instrument"].isin(["ors", "srs"])
    ]
    expected = effectiveness(north)["overall"]
    assert value_of(page, "Episodes with a score") == str(expected["n_episodes"])
    assert ">tara</th>" in page and ">tess</th>" in page
    assert ">theo<" not in page and ">tom<" not in page


def test_supervisors_frames_hold_only_their_teams_episodes(history):
    p = history.personas
    frame = administrations_frame(scoped_episodes(p.sam, ReportFilter()))
    tess_and_tara = {
        str(pk)
        for pk in p.riverside.memberships.filter(user__username__in=["tara", "tess"]).values_list(
            "user", flat=True
        )
    }
    assert set(frame["therapist_id"]) == tess_and_tara
    assert set(frame["team_id"]) == {str(p.north.pk)}
    assert len(frame) == history.frame["therapist_id"].isin(["T0001", "T0002"]).sum()


@pytest.mark.parametrize("url", ["/reports/", "/reports/effectiveness/", "/reports/exports/"])
def test_therapists_are_refused_the_supervision_pages(client, personas, url):
    client.force_login(personas.tara)
    assert client.get(url).status_code == 403


def test_another_agencys_admin_sees_nothing_of_riverside(client, history):
    client.force_login(history.personas.olga)
    page = client.get("/reports/effectiveness/?by=therapist_id").content.decode()
    assert ">oscar</th>" in page
    assert "tara" not in page and "theo" not in page


def test_cancellation_and_no_show_rates_come_from_the_sessions(client, history):
    sessions = Session.objects.filter(agency=history.personas.riverside).order_by("pk")
    total = sessions.count()
    ids = list(sessions.values_list("pk", flat=True)[:6])
    Session.objects.filter(pk__in=ids[:4]).update(attendance=Attendance.CANCELLED)
    Session.objects.filter(pk__in=ids[4:]).update(attendance=Attendance.NO_SHOW)
    client.force_login(history.personas.alice)
    page = client.get("/reports/effectiveness/").content.decode()
    assert 'data-testid="cancelled">4<' in page
    assert 'data-testid="no-show">2<' in page
    assert f"{total} sessions booked" in page
    assert f"({4 / total:.3f}," in page


def test_a_supervisors_attendance_and_therapist_choices_cover_only_their_teams(client, history):
    p = history.personas
    north = Session.objects.filter(
        agency=p.riverside, episode__client__therapist__username__in=["tara", "tess"]
    ).count()
    assert 0 < north < Session.objects.filter(agency=p.riverside).count()
    client.force_login(p.sam)
    page = client.get("/reports/effectiveness/").content.decode()
    assert f"{north} sessions booked" in page
    therapist_select = re.search(r'<select id="f-therapist".*?</select>', page).group(0)
    assert re.findall(r">(t\w+)</option>", therapist_select) == ["tara", "tess"]


def test_the_report_can_be_grouped_by_team_with_readable_names(client, history):
    client.force_login(history.personas.alice)
    page = client.get("/reports/effectiveness/?by=team_id").content.decode()
    assert '<th scope="row">North</th>' in page
    assert '<th scope="row">South</th>' in page


def test_the_therapist_comparison_is_the_science_cores_shrunken_estimates(client, history):
    from alliance.science.therapists import therapist_effects

    client.force_login(history.personas.alice)
    page = client.get("/reports/effectiveness/").content.decode()
    ors = history.frame[history.frame["instrument"].isin(["ors", "srs"])]
    effects = therapist_effects(ors)
    assert f"Therapists explain {effects.icc:.3f} of the variance" in page
    tara = effects.per_therapist.set_index("therapist_id").loc["T0001"]
    row = re.search(r'<th scope="row">tara</th><td>(\d+)</td><td>([-\d.]+)</td>', page)
    assert row and int(row.group(1)) == tara["n_episodes"]
    assert row.group(2) == f"{tara['effect']:.2f}"
    # Listed by name, never ranked by estimate.
    names = re.findall(r'<tr><th scope="row">(t\w+)</th><td>\d+</td><td>[-\d.]+</td>', page)
    assert names == ["tara", "tess", "theo", "tom"]
