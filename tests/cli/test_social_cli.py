"""``cryptotrader social``: a profile listed, followed, paused, resumed and unfollowed as
the users the commands name, each change audited as theirs; the leaderboard ranked by the
Deflated Sharpe Ratio with the trial count beside it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.social import tracks
from tests.support import TestDatabase, create_user, run_cli

ANN, BOB = "ann@example.test", "bob@example.test"


def test_list_a_profile_follow_it_pause_resume_unfollow(
    db: TestDatabase, cli_env: dict[str, str], tmp_path: Path
) -> None:
    def ok(*args: str) -> str:
        out = run_cli(["social", *args], cli_env, tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    with db.owner() as conn:
        ann = create_user(conn, email=ANN)
        create_user(conn, email=BOB)
    refused = run_cli(["social", "profile", "--user", ANN], cli_env, tmp_path)
    assert refused.returncode == 2 and "no trader profile yet" in refused.stderr
    assert "private" in ok("profile", "--user", ANN, "--name", "Ann", "--category", "Swing")
    assert "no listed trader yet" in ok("traders", "--user", BOB)
    listed = ok("profile", "--user", ANN, "--name", "Ann", "--listed", "--with-trades")
    assert "listed since" in listed and "statistics and trades" in listed
    [trader] = json.loads(ok("traders", "--user", BOB, "--json"))
    assert trader["id"] == str(ann) and trader["followers"] == 0
    made = ok("follow", str(ann), "--user", BOB)
    follow_id = made.split()[-1]
    assert "following Ann" in made
    again = run_cli(["social", "follow", str(ann), "--user", BOB], cli_env, tmp_path)
    assert again.returncode == 2 and "already" in again.stderr
    own = run_cli(["social", "follow", str(ann), "--user", ANN], cli_env, tmp_path)
    assert own.returncode == 2 and "cannot follow yourself" in own.stderr
    assert "paused" in ok("pause", follow_id, "--user", BOB)
    assert "paused" in ok("follows", "--user", BOB)
    assert "active" in ok("resume", follow_id, "--user", BOB)
    stranger = run_cli(["social", "unfollow", follow_id, "--user", ANN], cli_env, tmp_path)
    assert stranger.returncode == 2 and "Follow not found" in stranger.stderr
    assert "unfollowed" in ok("unfollow", follow_id, "--user", BOB)
    assert "you follow nobody yet" in ok("follows", "--user", BOB)
    with db.owner() as conn:
        actions = conn.execute(
            "SELECT p.email, a.action FROM audit_logs a JOIN profiles p ON p.id = a.user_id"
            " WHERE a.action LIKE 'follow.%%' OR a.action LIKE 'trader_profile.%%'"
            " ORDER BY a.timestamp"
        ).fetchall()
    assert [(a["email"], a["action"]) for a in actions] == [
        (ANN, "trader_profile.update"),
        (ANN, "trader_profile.update"),
        (BOB, "follow.create"),
        (BOB, "follow.pause"),
        (BOB, "follow.resume"),
        (BOB, "follow.delete"),
    ]


def test_the_leaderboard_ranks_by_the_deflated_sharpe_with_the_trials(
    db: TestDatabase, cli_env: dict[str, str], tmp_path: Path
) -> None:
    lucky = tracks.make_trader(db, "Lucky", tracks.LUCKY, trip_days=tracks.LUCKY_TRIPS)
    steady = tracks.make_trader(db, "Steady", tracks.STEADY, trip_days=tracks.STEADY_TRIPS)
    with db.owner() as conn:
        tracks.add_trials(conn, lucky.user_id, sweep=tracks.LUCKY_TRIALS)
        tracks.add_trials(conn, steady.user_id, singles=tracks.STEADY_TRIALS)
    tracks.run_daily_job(db, [lucky, steady])

    def ok(*args: str) -> str:
        out = run_cli(["social", "leaderboard", *args], cli_env, tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    table = ok("--period", "all")  # the settings' minimum: 7 days, 5 round trips
    rows = [line for line in table.splitlines() if "Lucky" in line or "Steady" in line]
    assert [("Steady" in r, "Lucky" in r) for r in rows] == [(True, False), (False, True)]
    assert "(2)" in rows[0] and "(200)" in rows[1]  # the trials beside the DSR
    by_return = json.loads(ok("--period", "all", "--sort", "return", "--json"))
    assert [e["display_name"] for e in by_return] == ["Lucky", "Steady"]
    assert [e["trials"] for e in by_return] == [200, 2]
    assert json.loads(ok("--period", "all", "--min-days", "20", "--json"))[0]["rank"] == 1
    assert "no listed trader has the track yet" in ok("--period", "all", "--min-trades", "11")
    refused = run_cli(["social", "leaderboard", "--period", "1y"], cli_env, tmp_path)
    assert refused.returncode == 2 and "1y" in refused.stderr
