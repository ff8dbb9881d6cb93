"""The embedded server's list of user processes: a process killed before its exit
handler ran must not keep the server from ever stopping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cryptotrader.db.embedded import forget_dead_users


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_processes_are_forgotten_live_ones_kept(tmp_path: Path) -> None:
    dead = _dead_pid()
    (tmp_path / ".handle_pids.json").write_text(json.dumps([dead, os.getpid()]))
    assert forget_dead_users(tmp_path) == [os.getpid()]
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def test_no_list_or_a_damaged_one_is_left_alone(tmp_path: Path) -> None:
    assert forget_dead_users(tmp_path) == []
    (tmp_path / ".handle_pids.json").write_text("{not json")
    assert forget_dead_users(tmp_path) == []
    assert (tmp_path / ".handle_pids.json").read_text() == "{not json"
