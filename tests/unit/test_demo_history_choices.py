"""The simulated history's choices are fixed by the seed and the item, not by order."""

from __future__ import annotations

from app.demo_history import chance, review_volume


def test_chances_are_seeded_uniform_and_order_free() -> None:
    draws = [chance(7, "reply", f"msg-{i}") for i in range(2000)]
    assert draws == [chance(7, "reply", f"msg-{i}") for i in range(2000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.45 < sum(d < 0.5 for d in draws) / len(draws) < 0.55
    assert chance(8, "reply", "msg-1") != chance(7, "reply", "msg-1")


def test_each_am_reviews_around_a_habit_of_their_own() -> None:
    ams = [f"005A{i:05d}" for i in range(20)]
    habits = {am: [review_volume(7, am, week) for week in range(1, 9)] for am in ams}
    assert all(1 <= v <= 14 for weeks in habits.values() for v in weeks)
    assert all(max(weeks) - min(weeks) <= 4 for weeks in habits.values())
    assert len({sum(weeks) for weeks in habits.values()}) > 5  # AMs differ
