"""`alliance change` on real trial data and its error handling.

The expected numbers are computed in this file, independently of alliance.science.change, with
plain pandas/numpy from the CSV files; the literal values are also recorded in docs/change.md.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alliance.cli import main

REFDATA = Path(__file__).resolve().parents[1] / "data"
CLAUS = REFDATA / "claus_2020.csv"
JACOBSON = REFDATA / "jacobson_1989.csv"


# The hand computations below use Alliance's rules before the R reference became the default:
# 1.96 / 1.65 and a score exactly on the cutoff counting as functional.
LEGACY = ["--critical", "rounded", "--boundary", "functional", "--ha-cutoff", "observed"]


def run_json(capsys, *argv: str) -> dict:
    assert main(["change", *map(str, argv), *LEGACY, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def expected_jt(
    path: Path,
    id_column: str,
    score: str,
    pre: object,
    post: object,
    reliability: float,
    *,
    higher_is_better: bool,
    cutoff: str,
    m_functional: float | None = None,
    sd_functional: float | None = None,
) -> dict:
    """Jacobson-Truax by hand: pivot to wide, drop incomplete cases, apply the formulas."""
    data = pd.read_csv(path)
    wide = data.pivot(index=id_column, columns="time", values=score)
    complete = wide[[pre, post]].dropna()
    x1, x2 = complete[pre].to_numpy(), complete[post].to_numpy()
    sd_c, m_c = x1.std(ddof=1), x1.mean()
    s_diff = math.sqrt(2 * (sd_c * math.sqrt(1 - reliability)) ** 2)
    threshold = 1.96 * s_diff
    d = 1 if higher_is_better else -1
    if cutoff == "a":
        cut = m_c + d * 2 * sd_c
    else:
        cut = (sd_c * m_functional + sd_functional * m_c) / (sd_c + sd_functional)
    counts = dict.fromkeys(["recovered", "improved", "unchanged", "deteriorated", "harmed"], 0)
    for before, after in zip(x1, x2, strict=True):
        rci = d * (after - before) / s_diff
        clinical_before = d * (before - cut) < 0
        clinical_after = d * (after - cut) < 0
        if rci > 1.96:
            counts["recovered" if clinical_before and not clinical_after else "improved"] += 1
        elif rci < -1.96:
            counts["harmed" if clinical_after and not clinical_before else "deteriorated"] += 1
        else:
            counts["unchanged"] += 1
    n_total = data[id_column].nunique()
    return {
        "n_total": n_total,
        "n_used": len(complete),
        "n_excluded": n_total - len(complete),
        "rc_threshold": threshold,
        "cutoff": cut,
        "m_clinical": m_c,
        "sd_clinical": sd_c,
        "categories": counts,
    }


def assert_matches(result: dict, expected: dict) -> None:
    for key in ("n_total", "n_used", "n_excluded", "categories"):
        assert result[key] == expected[key], key
    for key in ("rc_threshold", "cutoff", "m_clinical", "sd_clinical"):
        assert result[key] == pytest.approx(expected[key], rel=1e-12), key


# --- real data ------------------------------------------------------------------------------------

CLAUS_SETTINGS = {
    # score: (reliability, functional mean, functional SD), from tests/data/README.md
    "bdi": (0.801, 7.69, 7.52),
    "hamd": (0.80, 8.0, 8.0),
}


@pytest.mark.parametrize("score", ["bdi", "hamd"])
def test_claus_2020_pre_1_post_4_lower_is_better_matches_a_hand_computation(capsys, score):
    reliability, m_f, sd_f = CLAUS_SETTINGS[score]
    result = run_json(
        capsys,
        CLAUS,
        "--id", "id", "--time", "time", "--score", score, "--pre", "1", "--post", "4",
        "--reliability", reliability, "--lower-is-better",
        "--m-functional", m_f, "--sd-functional", sd_f, "--cutoff", "c",
    )  # fmt: skip
    expected = expected_jt(
        CLAUS, "id", score, 1, 4, reliability,
        higher_is_better=False, cutoff="c", m_functional=m_f, sd_functional=sd_f,
    )  # fmt: skip
    assert_matches(result, expected)
    assert result["method"] == "jt"


def test_claus_2020_bdi_numbers_recorded_in_the_docs(capsys):
    result = run_json(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4",
        "--reliability", ".801", "--lower-is-better",
        "--m-functional", "7.69", "--sd-functional", "7.52",
    )  # fmt: skip
    # 3 patients (4, 17, 27) have no BDI after time 1.
    assert (result["n_total"], result["n_used"], result["n_excluded"]) == (43, 40, 3)
    assert result["rc_threshold"] == pytest.approx(10.0882, abs=1e-4)
    assert result["cutoff"] == pytest.approx(21.0166, abs=1e-4)
    assert result["categories"] == {
        "recovered": 10,
        "improved": 8,
        "unchanged": 22,
        "deteriorated": 0,
        "harmed": 0,
    }


def test_claus_2020_hamd_numbers_recorded_in_the_docs(capsys):
    result = run_json(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "hamd", "--pre", "1", "--post", "4",
        "--reliability", ".80", "--lower-is-better",
        "--m-functional", "8", "--sd-functional", "8", "--cutoff", "c",
    )  # fmt: skip
    assert result["rc_threshold"] == pytest.approx(4.1405, abs=1e-4)
    assert result["cutoff"] == pytest.approx(19.8870, abs=1e-4)
    assert result["categories"] == {
        "recovered": 26,
        "improved": 3,
        "unchanged": 10,
        "deteriorated": 1,
        "harmed": 0,
    }


@pytest.mark.parametrize(("score", "higher_is_better"), [("das", True), ("gds", False)])
def test_jacobson_1989_with_cutoff_a_matches_a_hand_computation(capsys, score, higher_is_better):
    direction = [] if higher_is_better else ["--lower-is-better"]
    result = run_json(
        capsys,
        JACOBSON, "--id", "subject", "--time", "time", "--score", score,
        "--pre", "pre", "--post", "post", "--reliability", ".80", "--cutoff", "a", *direction,
    )  # fmt: skip
    expected = expected_jt(
        JACOBSON, "subject", score, "pre", "post", 0.80,
        higher_is_better=higher_is_better, cutoff="a",
    )  # fmt: skip
    assert_matches(result, expected)


def test_ha_on_claus_bdi_uses_the_difference_reliability_of_the_used_cases(capsys):
    result = run_json(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4",
        "--reliability", ".801", "--lower-is-better", "--method", "ha",
    )  # fmt: skip
    wide = pd.read_csv(CLAUS).pivot(index="id", columns="time", values="bdi")[[1, 4]].dropna()
    x1, x2 = wide[1].to_numpy(), wide[4].to_numpy()
    s1, s2, r12 = x1.std(ddof=1), x2.std(ddof=1), np.corrcoef(x1, x2)[0, 1]
    se2 = s1**2 * (1 - 0.801)
    r1, r2 = (s1**2 - se2) / s1**2, (s2**2 - se2) / s2**2
    r_dd = (s1**2 * r1 + s2**2 * r2 - 2 * s1 * s2 * r12) / (s1**2 + s2**2 - 2 * s1 * s2 * r12)
    rci = ((x2 - x1) * r_dd + (x2.mean() - x1.mean()) * (1 - r_dd)) / (
        math.sqrt(r_dd) * math.sqrt(2 * se2)
    )
    assert result["r_dd"] == pytest.approx(r_dd)
    assert result["categories"] == {
        "improved": int((-rci > 1.65).sum()),
        "unchanged": int((np.abs(rci) <= 1.65).sum()),
        "deteriorated": int((-rci < -1.65).sum()),
    }
    assert result["categories"]["improved"] == 25  # recorded in docs/change.md


def test_by_adds_the_same_object_per_group(capsys):
    result = run_json(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4",
        "--reliability", ".801", "--lower-is-better",
        "--m-functional", "7.69", "--sd-functional", "7.52", "--by", "treatment",
    )  # fmt: skip
    groups = result["groups"]
    assert sorted(groups) == ["PA", "TAU"]
    assert groups["PA"]["n_total"] + groups["TAU"]["n_total"] == 43
    for name, total in result["categories"].items():
        assert groups["PA"]["categories"][name] + groups["TAU"]["categories"][name] == total
    assert groups["TAU"]["rc_threshold"] == result["rc_threshold"]
    assert groups["PA"]["categories"]["recovered"] == 7  # recorded in docs/change.md


def test_per_case_writes_one_row_per_used_case(capsys, tmp_path):
    out = tmp_path / "cases.csv"
    result = run_json(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4",
        "--reliability", ".801", "--lower-is-better", "--by", "treatment", "--per-case", out,
    )  # fmt: skip
    cases = pd.read_csv(out)
    assert list(cases.columns) == [
        "id", "pre", "post", "change", "rci", "category", "reason", "group",
    ]  # fmt: skip
    assert len(cases) == result["n_used"] == 40
    first = cases.iloc[0]  # patient 1: BDI 33 at time 1, 27 at time 4
    assert (first["id"], first["pre"], first["post"], first["change"]) == (1, 33, 27, -6)
    assert first["rci"] == pytest.approx(-6 / (result["rc_threshold"] / 1.96))
    assert first["group"] == "TAU"
    # -6 / 5.1470 = -1.166, inside +-1.96: the reason says so.
    assert first["reason"] == "RCI -1.166: not reliable (within 1.96)"


def test_without_json_it_prints_a_readable_table(capsys):
    code = main(
        ["change", str(JACOBSON), "--id", "subject", "--time", "time", "--score", "das",
         "--pre", "pre", "--post", "post", "--reliability", ".8", "--cutoff", "a"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "30 in the table, 30 used, 0 excluded" in out
    assert "cutoff a: 105.23" in out
    assert any(line.split()[:2] == ["recovered", "10"] for line in out.splitlines())


# --- the reference defaults and the other methods ------------------------------------------------


def run_default(capsys, *argv: object) -> dict:
    assert main(["change", *map(str, argv), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_by_default_the_json_names_method_approach_critical_value_cutoff_and_norms(capsys):
    result = run_default(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4",
        "--reliability", ".801", "--lower-is-better",
        "--m-functional", "7.69", "--sd-functional", "7.52", "--cutoff", "c",
    )  # fmt: skip
    assert (result["method"], result["approach"], result["critical"]) == ("jt", "combined", "exact")
    assert result["critical_value"] == pytest.approx(1.959963984540054)
    assert (result["cutoff_type"], result["cutoff_scale"], result["boundary"]) == (
        "c", "observed", "reference",
    )  # fmt: skip
    assert result["cutoff"] == pytest.approx(21.0166, abs=1e-4)
    assert (result["m_functional"], result["sd_functional"]) == (7.69, 7.52)
    assert result["m_clinical"] == pytest.approx(35.475)


def test_hlm_from_the_command_line_uses_all_four_time_points(capsys, tmp_path):
    out = tmp_path / "slopes.csv"
    result = run_default(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--method", "hlm",
        "--lower-is-better", "--cutoff", "a", "--per-case", out,
    )  # fmt: skip
    # The R package gives 5 / 0 / 32 / 3 / 0 (tests/data/clinicalsignificance, case A062).
    assert result["categories"] == {
        "recovered": 5, "improved": 0, "unchanged": 32, "deteriorated": 3, "harmed": 0,
    }  # fmt: skip
    assert result["hlm"]["n_rows"] == 160 and result["n_used"] == 40
    cases = pd.read_csv(out)
    assert {"slope_deviation", "conditional_sd", "n_scores", "reason"} <= set(cases.columns)
    assert (cases["n_scores"] >= 3).all()


def test_statistical_ha_from_the_command_line_reports_the_true_score_cutoff(capsys):
    result = run_default(
        capsys,
        CLAUS, "--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4",
        "--reliability", ".801", "--lower-is-better", "--method", "ha", "--approach",
        "statistical", "--cutoff", "a",
    )  # fmt: skip
    # R: cs_statistical(..., cutoff_method = "HA", cutoff_type = "a") gives a_true 20.871256
    # and 7 / 33 / 0 (case A010).
    assert result["cutoff_scale"] == "true"
    assert result["cutoff"] == pytest.approx(20.8712562756, abs=1e-6)
    assert result["categories"] == {"improved": 7, "unchanged": 33, "deteriorated": 0}


def test_the_text_report_names_the_method_and_the_critical_value(capsys):
    code = main(
        ["change", str(CLAUS), "--id", "id", "--time", "time", "--score", "hamd",
         "--method", "nk", "--pre", "1", "--post", "4", "--reliability", ".8",
         "--reliability-post", ".5", "--lower-is-better"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "Nunnally-Kotsch, distribution approach" in out
    assert "critical value: 1.95996 (exact)" in out
    # R: cs_distribution(..., reliability_post = 0.5, rci_method = "NK") gives 28 / 11 / 1.
    assert any(line.split()[:2] == ["improved", "28"] for line in out.splitlines())


# --- errors ---------------------------------------------------------------------------------------

GOOD = ["--id", "id", "--time", "time", "--score", "bdi", "--pre", "1", "--post", "4"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([str(CLAUS), *GOOD[:4], "--score", "bdx", *GOOD[6:], "--reliability", ".8"], "bdx"),
        ([str(CLAUS), *GOOD, "--reliability", "0"], "reliability"),
        ([str(CLAUS), *GOOD, "--reliability", "1"], "reliability"),
        ([str(CLAUS), *GOOD, "--reliability", "1.5"], "reliability"),
        ([str(CLAUS), *GOOD[:8], "--post", "1.0", "--reliability", ".8"], "same time point"),
        ([str(REFDATA / "missing.csv"), *GOOD, "--reliability", ".8"], "file not found"),
        ([str(CLAUS), *GOOD, "--reliability", ".8", "--cutoff", "c"], "functional norm"),
        ([str(CLAUS), *GOOD, "--reliability", ".8", "--by", "arm"], "unknown by column"),
        ([str(CLAUS), *GOOD, "--method", "hlm"], "give no pre or post"),
        ([str(CLAUS), *GOOD], "needs the reliability"),
        (
            [
                str(CLAUS),
                *GOOD,
                "--reliability",
                ".8",
                "--method",
                "en",
                "--approach",
                "statistical",
            ],
            "statistical approach",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line_on_stderr(capsys, argv, message):
    assert main(["change", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("alliance change: error: ")
    assert message in err


def test_a_non_numeric_score_in_the_file_names_the_row(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,time,bdi\n1,1,20\n1,4,x12\n2,1,30\n2,4,25\n")
    assert main(["change", str(bad), *GOOD, "--reliability", ".8"]) == 2
    _, err = capsys.readouterr()
    assert "row 3: the score column 'bdi' must be a number, not 'x12'" in err


def test_subprocess_smoke_run_of_the_installed_module():
    completed = subprocess.run(
        [sys.executable, "-m", "alliance", "change", str(CLAUS), *GOOD, "--reliability", ".801",
         "--lower-is-better", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["n_used"] == 40
