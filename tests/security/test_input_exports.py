"""Exports: no spreadsheet formula in any CSV the application writes; numbers stay numbers
(issue 11, section 2)."""

from __future__ import annotations

import csv
import decimal
import io

import pandas as pd

from alliance.accounts.models import Role, Team
from alliance.audit.models import AuditEvent
from alliance.audit.services import export_csv, record
from alliance.care import services
from alliance.care.models import Client
from alliance.ops.csvsafe import safe_cell, safe_frame
from alliance.reports.exports import csv_lines
from tests.web.personas import START, make_user

FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")']


def test_every_text_cell_that_starts_a_formula_is_quoted_and_numbers_stay_numbers():
    for text in FORMULAS:
        assert safe_cell(text) == "'" + text
    # Text that merely looks like a negative number is text: quoted too.
    assert safe_cell("-3") == "'-3"
    for number in (-3, -2.5, decimal.Decimal("-1.25"), 0, 7.5):
        assert safe_cell(number) == number
    for harmless in ("R-1", "a=b", "", "'=already", "x|y", "%1"):
        assert safe_cell(harmless) == harmless
    assert safe_cell(None) is None


def test_the_csv_writer_of_the_exports_quotes_formulas_and_writes_negative_numbers_as_numbers():
    lines = list(csv_lines(iter([["code", "change"], ["=cmd|' /C calc'!A0", -4.5], ["R-1", -2]])))
    rows = list(csv.reader(io.StringIO("".join(lines))))
    assert rows == [["code", "change"], ["'=cmd|' /C calc'!A0", "-4.5"], ["R-1", "-2"]]


def test_a_frame_written_by_the_command_line_keeps_numeric_columns_and_quotes_text():
    frame = pd.DataFrame({"case": ["=1+2", "c2"], "change": [-3.0, 4.0]})
    safe = safe_frame(frame)
    assert safe["case"].tolist() == ["'=1+2", "c2"]
    assert safe["change"].tolist() == [-3.0, 4.0]


def download(client, user, kind: str, research: bool) -> list[list[str]]:
    client.force_login(user)
    response = client.post(f"/reports/exports/{kind}.csv", {"research": "1"} if research else {})
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_identified_and_research_exports_hold_no_formula(personas, client):
    riverside = personas.riverside
    riverside.allow_client_names = True
    riverside.save(update_fields=["allow_client_names"])
    team = Team.objects.create(agency=riverside, name="@SUM(1+1)")
    therapist = make_user(riverside, "=evil", Role.THERAPIST, team)
    patient = services.create_client(
        personas.alice,
        riverside,
        display_code="-2+3",
        name='=HYPERLINK("http://x")',
        therapist=therapist,
        team=team,
        start_date=START,
    )
    session = services.start_session(therapist, patient, on=START)
    services.record_administration(
        therapist, session, instrument="ors", idempotency_key="f1", total=20.0
    )
    Client.objects.filter(pk=patient.pk).update(name="+cmd")
    for kind in ("administrations", "episodes"):
        for research in (False, True):
            rows = download(client, personas.alice, kind, research)
            cells = [cell for row in rows for cell in row]
            assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], (kind, research)
            assert not [c for c in cells if c[:1] == "-" and not _number(c)], (kind, research)
    identified = download(client, personas.alice, "administrations", False)
    mine = next(row for row in identified if "'-2+3" in row)
    assert "'+cmd" in mine and "'=evil" in mine and "'@SUM(1+1)" in mine
    assert "20.0" in mine  # the total is a number, written as one


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_audit_export_holds_no_formula(personas):
    record(personas.alice, personas.riverside, "=cmd", ("client", "-1+1"), "127.0.0.1")
    record(personas.alice, personas.riverside, "client.viewed", ("client", "\t=1+1"))
    text = export_csv(AuditEvent.objects.order_by("lane", "seq"))
    rows = list(csv.reader(io.StringIO(text)))
    event = next(row for row in rows if "'=cmd" in row)
    assert "'-1+1" in event
    assert any("'\t=1+1" in row for row in rows)  # a tab was let through before
    assert not [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
