"""The default rollback target is the same rule on every target."""

from sls_deploy.targets.base import default_rollback


def test_without_a_canary_rollback_goes_to_the_newest_older_version():
    assert default_rollback(5, None, [1, 2, 4, 5, 6]) == 4


def test_during_a_canary_rollback_goes_back_to_the_version_the_canary_started_from():
    # live serves 3 with a canary on 5; version 4 exists but never served live
    assert default_rollback(3, 5, [3, 4, 5]) == 3


def test_with_no_older_version_there_is_nothing_to_roll_back_to():
    assert default_rollback(1, None, [1, 2]) is None
