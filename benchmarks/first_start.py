"""First start: seconds from ``git clone`` to the first HTTP 200 from ``/health`` of ``make run``.

What a new user does, timed: clone the repository into a temporary directory, run
``make run`` there (it creates ``.venv``, installs what running needs, starts the
embedded PostgreSQL, migrates, seeds the demo data and serves), and poll ``/health``
until it answers 200 (``ok``, or ``degraded`` while the market feed is still electing
its leader: both mean the API is up). Then ``make run`` is stopped as Ctrl-C stops it
(SIGINT to its process group) and the script waits for it to exit and checks that the
embedded server was stopped too.

The data dir (``CRYPTOTRADER_DATA_DIR``) is fresh and the port (``CRYPTOTRADER_PORT``)
a free loopback one. With ``--cold`` (the default) pip's and uv's caches are pointed
at fresh empty directories, so every package is downloaded as on a new machine;
``--warm`` keeps the user's caches (a second clone on the same machine).

Each phase is timed from the lines ``make run`` prints: clone, install (the venv and
its packages), migrate, seed (the demo user and trades, then each candle file), and
serve (from ``cryptotrader serve`` to the first 200).

``--overlay PATH ...`` copies files or directories of the working tree over the clone
first, to time uncommitted changes (e.g. ``--overlay Makefile pyproject.toml``).

Target: under 60 s. The last line printed is one JSON object.

    python3 benchmarks/first_start.py [--warm] [--repo PATH] [--overlay FILE ...]

Only the standard library: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

TARGET_S = 60.0
REFERENCE_S = 171.0  # issue 10: make run's first start before the split of its install
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 900.0

# a line printed by `make run`, and the phase that begins with it
PHASES = (
    (re.compile(r"cryptotrader db migrate$"), "migrate"),
    (re.compile(r"cryptotrader db seed$"), "seed: demo user, accounts, trades"),
    (re.compile(r"^demo user "), "seed: candles BTC 1h"),
    (re.compile(r"^demo candles BTC"), "seed: candles ETH 1h"),
    (re.compile(r"^demo candles ETH"), "seed: exit"),
    (re.compile(r"cryptotrader serve$"), "serve"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health(port: int) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (OSError, urllib.error.URLError):
        return None


class Output:
    """The lines of ``make run``, each with the moment it arrived, echoed to a log file."""

    def __init__(self, stream: object, log: Path, t0: float) -> None:
        self.lines: list[tuple[float, str]] = []
        self._log = log
        self._t0 = t0
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        with self._log.open("w") as log:
            for raw in stream:  # type: ignore[attr-defined]
                line = raw.rstrip("\n")
                now = time.monotonic()
                self.lines.append((now, line))
                log.write(f"{now - self._t0:8.2f}  {line}\n")
                log.flush()

    def join(self) -> None:
        self._thread.join(30)


def phases(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, start), (_, stop) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        out[name] = round(stop - start, 2)
    return out


def run(args: argparse.Namespace) -> dict[str, object]:
    scratch = Path(tempfile.mkdtemp(prefix="first-start-"))
    clone, data = scratch / "clone", scratch / "data"
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "DATABASE_URL", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(name, None)  # a new user's shell (and not the make of `make bench`)
    env.update(
        CRYPTOTRADER_DATA_DIR=str(data),
        CRYPTOTRADER_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    if not args.warm:
        env.update(PIP_CACHE_DIR=str(scratch / "pip-cache"), UV_CACHE_DIR=str(scratch / "uv-cache"))
    port = int(env["CRYPTOTRADER_PORT"])
    log = scratch / "make-run.log"
    print(f"clone {args.repo} -> {clone}; log {log}", flush=True)

    t0 = time.monotonic()
    subprocess.run(["git", "clone", "--quiet", str(args.repo), str(clone)], check=True)
    for name in args.overlay:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, clone / name, dirs_exist_ok=True)
        else:
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    marks = [("clone", t0), ("install", time.monotonic())]
    proc = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, for the SIGINT of Ctrl-C
    )
    out = Output(proc.stdout, log, t0)
    answer = None
    try:
        while answer is None or answer[0] != 200:
            if proc.poll() is not None:
                raise SystemExit(f"make run exited with {proc.returncode}; see {log}")
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise SystemExit(f"no 200 from /health after {START_TIMEOUT_S:.0f} s; see {log}")
            time.sleep(0.1)
            answer = health(port)
        up = time.monotonic()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.join()
    for at, line in out.lines:
        for pattern, name in PHASES:
            if pattern.search(line) and name not in dict(marks):
                marks.append((name, at))
    marks.sort(key=lambda m: m[1])
    stopped = not (data / "pg" / "postmaster.pid").exists()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "seconds": round(up - t0, 2),
        # CPU of the processes waited for (git, make, pip, uv, cryptotrader; not the
        # PostgreSQL server): less sensitive than the seconds to a shared machine's load
        "cpu_seconds": round(children.ru_utime + children.ru_stime, 2),
        "load_average": os.getloadavg()[0],
        "health": answer[1],
        "phases": phases(marks, up),
        "server_stopped": stopped,
        "make_exit": proc.returncode,
        "venv_mb": round(_size(clone / ".venv") / 1e6),
    }
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="what to clone (default: here)")
    parser.add_argument("--warm", action="store_true", help="keep pip's and uv's caches")
    parser.add_argument("--overlay", nargs="*", default=[], help="working-tree paths to copy")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "benchmark": "first_start" + ("_warm" if args.warm else "_cold"),
                "value": seconds,
                "unit": "s",
                "reference": REFERENCE_S,
                "ratio": round(REFERENCE_S / seconds, 2),
                "target": TARGET_S,
                "pass": seconds < TARGET_S and bool(result["server_stopped"]),
            }
        )
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
