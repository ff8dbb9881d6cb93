"""``cryptotrader ARGS`` with the jobs worker running the given task modules, for the tests
that start worker processes: ``python -m tests.jobs.worker_main MODULE,MODULE ARGS...``.
Everything else is the command itself."""

from __future__ import annotations

import sys

from cryptotrader.cli import main
from cryptotrader.jobs import app

if __name__ == "__main__":
    app.TASK_MODULES = tuple(sys.argv[1].split(","))
    sys.argv = ["cryptotrader", *sys.argv[2:]]
    main()
