"""`python -P -m pipelines.run_selections`: several `dagster asset materialize` runs, one after another, in one process.

Why: a `dagster asset materialize` process imports Dagster and this code location before its run can start, and
Great Expectations at its first quality check — 8–9 s of CPU on a slow 2-core machine, paid again by every run
(issue 15 item 1: the demo and `cashbook backfill` run the raw selection and then the warehouse selection). This
process pays it once, and it imports the code location while the caller is still busy (the demo starts it before
simulating the account), then waits for instructions on stdin.

Each instruction runs through Dagster's own `asset materialize` command, so a run here is the run the CLI would
have made: same implicit asset job, same partition-range tags (single-run backfill), same run record, event log
and UI view. Steps execute in this process as before (the jobs' in-process executor).

Protocol, one line each way per event:
  stdin:  `{"name": "raw", "args": ["--select", "...", "--partition-range", "a...b", "--config-json", "{...}"]}`;
          or `{"warm": true}`: load Great Expectations now (the caller knows it is busy for a while: the demo
          sends it before simulating an account, so the import overlaps the simulation instead of a run)
  stdout: `cashbook-run: ready` once loaded; `cashbook-run: start <name>` before a run's own output;
          `cashbook-run: end <name> ok|failed <seconds>` after it.
A failed run does not stop the process; the caller decides (the demo stops). EOF on stdin ends the process.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

MARKER = "cashbook-run:"
CODE_LOCATION = "pipelines.definitions"


def _say(line: str) -> None:
    print(f"{MARKER} {line}", flush=True)


def _load() -> None:
    # The code location, imported once; Dagster's loader finds it in sys.modules for every run. Great Expectations
    # is not loaded here: the raw run's ingestion step loads it while its export workers run (assets/raw_writer.py),
    # and a later run in this process finds it loaded.
    import pipelines.definitions  # noqa: F401
    from cashbook.cli.commands_pipeline import init_pools

    init_pools(os.environ["DAGSTER_HOME"])  # the pool limits, before any run (the caller left them to us)


def run_one(args: list[str]) -> bool:
    from dagster._cli.asset import asset_materialize_command

    try:
        asset_materialize_command.main(args=["-m", CODE_LOCATION, *args], prog_name="dagster asset materialize",
                                       standalone_mode=False)
    except SystemExit as exc:  # click's own exits (bad option): a non-zero code is a failure
        return exc.code in (0, None)
    except Exception:
        traceback.print_exc(file=sys.stdout)
        return False
    return True


def main() -> None:
    _load()
    _say("ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        if spec.get("warm"):
            from cashbook.quality.validate import warm_up

            warm_up()
            continue
        name = str(spec["name"])
        _say(f"start {name}")
        started = time.monotonic()
        ok = run_one([str(a) for a in spec["args"]])
        sys.stdout.flush()
        sys.stderr.flush()
        _say(f"end {name} {'ok' if ok else 'failed'} {time.monotonic() - started:.1f}")


if __name__ == "__main__":
    main()
