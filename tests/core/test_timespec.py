"""--since spans: parsed back from now, and written the way --since takes them."""

from __future__ import annotations

import pytest

from sls_deploy.core.timespec import parse_since, span_text


@pytest.mark.parametrize(("seconds", "text"), [(3600, "1h"), (86400 * 2, "2d"), (600, "10m"), (45, "45s")])
def test_a_whole_span_is_written_in_its_largest_unit_and_reads_back(seconds, text):
    assert span_text(seconds) == text
    assert parse_since(text, now=100_000.0) == 100_000.0 - seconds


def test_a_span_off_by_a_little_still_reads_as_its_unit_and_an_odd_one_as_seconds():
    assert span_text(3600.4) == "1h"  # a report's end is taken a moment after its start
    assert span_text(5400) == "90m"
    assert span_text(3700) == "3700s"


def test_an_unreadable_since_says_which_forms_are_accepted():
    with pytest.raises(ValueError, match="10m, 1h, 2d"):
        parse_since("yesterday")
