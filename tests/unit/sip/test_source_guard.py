"""The source guard: bans after authentication failures and floods, scanners dropped."""

from __future__ import annotations

from trunkline.sip.guard import GuardSettings, SourceGuard

OPTIONS = (
    b"OPTIONS sip:100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1\r\n"
    b"User-Agent: {agent}\r\nContent-Length: 0\r\n\r\n"
)


def message(agent: str = "baresip v1.0.0") -> bytes:
    return OPTIONS.replace(b"{agent}", agent.encode())


def test_failures_within_the_window_ban_a_source_for_a_while() -> None:
    guard = SourceGuard(GuardSettings(max_failures=3, failure_window=60, ban=300))
    for t in (0.0, 10.0):
        guard.failed("203.0.113.9", t)
    assert guard.admits("203.0.113.9", message(), 11.0)
    guard.failed("203.0.113.9", 20.0)
    assert not guard.admits("203.0.113.9", message(), 21.0)  # banned: dropped
    assert guard.admits("192.0.2.1", message(), 21.0)  # others are not
    assert not guard.admits("203.0.113.9", message(), 319.0)
    assert guard.admits("203.0.113.9", message(), 320.5)  # the ban has run out


def test_failures_spread_beyond_the_window_do_not_add_up() -> None:
    guard = SourceGuard(GuardSettings(max_failures=3, failure_window=60))
    for t in (0.0, 61.0, 122.0, 183.0):
        guard.failed("203.0.113.9", t)
    assert guard.admits("203.0.113.9", message(), 184.0)


def test_a_flood_bans_the_source() -> None:
    guard = SourceGuard(GuardSettings(max_requests=50, flood_window=2.0, ban=60))
    admitted = [guard.admits("203.0.113.9", message(), i * 0.01) for i in range(60)]
    assert admitted[:50] == [True] * 50 and not any(admitted[50:])
    assert guard.is_banned("203.0.113.9", 1.0)
    # a phone's pace is never a flood
    slow = SourceGuard(GuardSettings(max_requests=50, flood_window=2.0))
    assert all(slow.admits("192.0.2.1", message(), i * 0.05) for i in range(1000))


def test_known_scanners_are_dropped_whatever_their_case() -> None:
    guard = SourceGuard()
    assert not guard.admits("203.0.113.9", message("friendly-scanner"), 0.0)
    assert not guard.admits("203.0.113.9", message("SIPVicious 0.3.8"), 0.0)
    assert guard.admits("203.0.113.9", message("Zoiper rv2.10"), 0.0)
    assert guard.dropped == 2


def test_trusted_sources_are_never_banned() -> None:
    guard = SourceGuard(
        GuardSettings(max_failures=1, max_requests=5), trusted=lambda host: host == "198.51.100.7"
    )
    guard.failed("198.51.100.7", 0.0)
    assert all(guard.admits("198.51.100.7", message(), i * 0.001) for i in range(100))
