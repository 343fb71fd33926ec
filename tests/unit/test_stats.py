"""The plain histograms the actors observe into, as Prometheus's ``le`` buckets read them."""

from __future__ import annotations

import math

from actors.stats import Histogram, Histograms


def test_an_observation_counts_in_the_first_bucket_whose_bound_it_does_not_exceed() -> None:
    h = Histogram((0.1, 1.0, 10.0))
    for v in [0.05, 0.1, 0.5, 1.0, 3.0, 50.0]:
        h.observe(v)

    assert h.counts == [2, 2, 1, 1]  # le 0.1 holds 0.1 itself; 50 is above every bound
    assert h.cumulative() == [(0.1, 2), (1.0, 4), (10.0, 5), (math.inf, 6)]
    assert h.count == 6 and math.isclose(h.sum, 54.65)


def test_histograms_make_one_per_label_value_on_its_first_observation() -> None:
    hs = Histograms((1.0,))
    hs.observe("echo", 0.5)
    hs.observe("echo", 2.0)
    hs.observe("resize", 0.1)

    assert {label: h.counts for label, h in hs.items()} == {"echo": [1, 1], "resize": [1, 0]}
