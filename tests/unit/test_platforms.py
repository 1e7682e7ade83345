"""The pure parts of uploads (issue 27): when to ask again, and the OAuth answer read back."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.platforms.outcome import (
    BACKOFF_MAX_S,
    DAY_S,
    MARGIN_S,
    WINDOW_S,
    backoff_s,
    strava_spent,
    strava_wait_s,
)
from gateway.platforms.strava import ConnectError, authorize_url, code_from_redirect
from gateway.store.activity import activity_name


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_spent_short_window_waits_for_the_next_quarter_hour() -> None:
    headers = {"x-ratelimit-limit": "200,2000", "x-ratelimit-usage": "200,350"}
    assert strava_spent(headers)
    assert strava_wait_s(at("2026-12-07T10:07:30"), headers) == 7.5 * 60 + MARGIN_S
    assert strava_wait_s(at("2026-12-07T10:45:00"), headers) == WINDOW_S + MARGIN_S


def test_a_spent_day_waits_for_midnight_utc() -> None:
    headers = {"x-ratelimit-limit": "200,2000", "x-ratelimit-usage": "12,2000"}
    assert strava_spent(headers)
    assert strava_wait_s(at("2026-12-07T22:00:00"), headers) == 2 * 3600 + MARGIN_S


def test_usage_under_the_limits_is_not_spent_and_bad_headers_are_ignored() -> None:
    assert not strava_spent({"x-ratelimit-limit": "200,2000", "x-ratelimit-usage": "199,1999"})
    assert not strava_spent({"x-ratelimit-limit": "two hundred", "x-ratelimit-usage": "1,2"})
    assert not strava_spent({})


@given(st.floats(0, 4e9), st.integers(0, 3000), st.integers(0, 3000))
def test_the_wait_ends_just_after_a_reset_and_never_later_than_a_day(
    now: float, short: int, daily: int
) -> None:
    headers = {"x-ratelimit-limit": "200,2000", "x-ratelimit-usage": f"{short},{daily}"}
    wait = strava_wait_s(now, headers)
    assert MARGIN_S < wait <= DAY_S + MARGIN_S
    reset = now + wait - MARGIN_S
    assert reset % WINDOW_S == pytest.approx(0, abs=1e-3) or reset % WINDOW_S == pytest.approx(
        WINDOW_S, abs=1e-3
    )


def test_backoff_doubles_from_thirty_seconds_to_an_hour() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_s(50) == BACKOFF_MAX_S


def test_the_authorization_address_asks_for_uploads_only() -> None:
    url = authorize_url("https://www.strava.com", "123", "http://localhost:8723/x", "st8")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["scope"] == ["activity:write"]
    assert query["response_type"] == ["code"]
    assert query["state"] == ["st8"]


def test_the_answer_pasted_back_is_read_whole_or_as_a_bare_code() -> None:
    pasted = "http://localhost:8723/exchange_token?state=st8&code=abc123&scope=read,activity:write"
    assert code_from_redirect(pasted, "st8") == ("abc123", "read,activity:write")
    assert code_from_redirect("  abc123 \n", "st8")[0] == "abc123"
    with pytest.raises(ConnectError, match="state differs"):
        code_from_redirect(pasted.replace("st8", "other"), "st8")
    with pytest.raises(ConnectError, match="Strava said: access_denied"):
        code_from_redirect("http://localhost:8723/x?state=st8&error=access_denied", "st8")


def test_an_activity_is_named_after_its_plan() -> None:
    assert activity_name("retro-run-intervals", walked=False) == "Retro run intervals"
    assert activity_name(None, walked=True) == "Treadmill walk"
    assert activity_name(None, walked=False) == "Treadmill run"
