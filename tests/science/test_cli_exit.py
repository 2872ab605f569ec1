"""The installed command ends a statistics command as soon as its output is flushed.

`alliance effectiveness` and the other commands that only print their result skip the
interpreter's teardown (about a tenth of their run on a million rows); every other command, and
``main()`` called in process, ends as before. Run as subprocesses: ``os._exit`` would end the
test run itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from alliance.cli import main
from alliance.science.simulate import simulate

# A handler the teardown would run: printed only when the process ends the ordinary way.
PROGRAM = """
import atexit, sys
atexit.register(lambda: print("teardown ran", file=sys.stderr))
from alliance.cli import console
sys.argv = ["alliance", *sys.argv[1:]]
console()
"""


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cli-exit") / "administrations.csv"
    simulate(400, 8, seed=11).to_csv(path, index=False)
    return str(path)


def test_effectiveness_ends_without_the_teardown_and_prints_all_its_output(table):
    completed = _run("effectiveness", table, "--by", "therapist_id", "--json")
    assert completed.returncode == 0, completed.stderr
    assert "teardown ran" not in completed.stderr
    printed = json.loads(completed.stdout)  # the whole JSON object, flushed before the exit
    assert printed == json.loads(
        json.dumps(_in_process(["effectiveness", table, "--by", "therapist_id", "--json"]))
    )


def test_the_readable_report_is_flushed_whole_too(table):
    completed = _run("effectiveness", table)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.rstrip("\n").endswith(
        "below the alliance cutoff; r(SRS) = early SRS vs change."
    )
    assert "teardown ran" not in completed.stderr


def test_a_refused_command_exits_with_its_status_the_ordinary_way(table):
    completed = _run("effectiveness", table, "--by", "no_such_column")
    assert completed.returncode == 2
    assert completed.stderr.startswith("alliance effectiveness: error: unknown --by column")
    assert "teardown ran" in completed.stderr


def test_a_command_that_writes_files_keeps_the_ordinary_exit(tmp_path):
    out = tmp_path / "simulated.csv"
    completed = _run("simulate", "--episodes", "20", "--therapists", "2", "-o", str(out))
    assert completed.returncode == 0, completed.stderr
    assert "teardown ran" in completed.stderr
    assert out.read_text().count("\n") > 20


def test_main_in_process_returns_its_status_instead_of_ending_the_process(table, capsys):
    assert main(["effectiveness", table, "--json"]) == 0
    frame = pd.read_csv(table)
    rated = frame[(frame["instrument"] == "ors") & (frame["rater"] == "client")]
    assert (
        json.loads(capsys.readouterr().out)["overall"]["n_episodes"]
        == rated["episode_id"].nunique()
    )


def _in_process(argv: list[str]) -> dict:
    """What ``main`` prints in process (no quick exit there)."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    return json.loads(buffer.getvalue())
