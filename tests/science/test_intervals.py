"""Confidence intervals (alliance.science.intervals) against published or hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alliance.science import effectiveness, intervals
from alliance.science.intervals import (
    effect_size_interval,
    fisher_interval,
    mean_interval,
    normal_interval,
    wilson_interval,
)

T_975_DF4 = 2.7764451051977987  # Student t quantile, 97.5%, 4 degrees of freedom (tables: 2.776)


def test_wilson_interval_of_8_out_of_10_matches_the_published_value() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_of_zero_successes_starts_at_zero() -> None:
    low, high = wilson_interval(0, 20)
    assert low == 0.0
    # Upper Wilson bound for 0/20 is z^2 / (n + z^2) = 3.8415 / 23.8415.
    assert high == pytest.approx(3.841459 / 23.841459, rel=1e-6)


def test_wilson_interval_rejects_more_successes_than_trials() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_fisher_interval_of_r_half_with_28_pairs_matches_tables() -> None:
    low, high = fisher_interval(0.5, 28)
    # z = atanh(.5) = .5493, SE = 1/sqrt(25) = .2: tanh(.5493 -+ .392) = .156 and .736.
    assert low == pytest.approx(0.1560, abs=5e-4)
    assert high == pytest.approx(0.7357, abs=5e-4)


def test_fisher_interval_is_undefined_for_three_pairs() -> None:
    assert all(math.isnan(v) for v in fisher_interval(0.5, 3))


def test_effect_size_interval_uses_the_delta_method_variance() -> None:
    es, low, high = effect_size_interval(3.6, 2.0, 4.0, 10)
    se = math.sqrt(4.0 / (10 * 16.0) + 0.9**2 / 18)
    assert es == pytest.approx(0.9)
    assert (low, high) == pytest.approx((0.9 - 1.959964 * se, 0.9 + 1.959964 * se), rel=1e-6)


def test_mean_interval_of_five_values_uses_the_t_quantile_with_four_degrees_of_freedom() -> None:
    low, high = mean_interval(10.0, 2.0, 5)
    half = T_975_DF4 * 2.0 / math.sqrt(5)
    assert (low, high) == pytest.approx((10.0 - half, 10.0 + half), rel=1e-12)


def test_mean_interval_is_undefined_for_one_value() -> None:
    assert all(math.isnan(v) for v in mean_interval(3.0, math.nan, 1))
    assert all(math.isnan(v) for v in mean_interval(math.nan, math.nan, 0))


def test_normal_interval_is_the_estimate_plus_and_minus_1_96_standard_errors() -> None:
    low, high = normal_interval([0.5, -1.0], [0.1, 0.0])
    np.testing.assert_allclose(low, [0.5 - 0.1959964, -1.0], rtol=1e-6)
    np.testing.assert_allclose(high, [0.5 + 0.1959964, -1.0], rtol=1e-6)


def test_the_effectiveness_module_still_offers_the_same_interval_functions() -> None:
    # The web app and docs/effectiveness.md import them from there.
    for name in ("wilson_interval", "fisher_interval", "effect_size_interval", "Z_95"):
        assert getattr(effectiveness, name) is getattr(intervals, name)
