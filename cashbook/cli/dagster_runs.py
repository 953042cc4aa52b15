"""Dagster runs for the CLI's pipeline commands, all from one preloaded process (`pipelines.run_selections`).

`DagsterRuns(env)` starts that process at once; it imports Dagster and the code location while
the command goes on with its own work (the demo simulates the account meanwhile). Each `materialize(...)` then hands
it one selection and waits for that run's end, writing the run's output to its own log file under
`$CASHBOOK_HOME/logs/` and printing the tail of it if the run failed — what a `dagster asset materialize`
subprocess per run did, without loading everything again for the second run (issue 15 item 1).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import typer

from cashbook.cli.console import console

MARKER = "cashbook-run:"  # pipelines/run_selections.py prints these
# Steps here are short and the DuckDB ones are serialised anyway; in-process avoids a Python start per step.
IN_PROCESS: dict = {"execution": {"config": {"in_process": {}}}}


def materialize_args(selection: str, partition_range: tuple[str, str] | None = None,
                     run_config: dict | None = None) -> list[str]:
    """The `dagster asset materialize` options of one run (the code location is the runner's own)."""
    config = {**IN_PROCESS, **(run_config or {})}
    args = ["--select", selection, "--config-json", json.dumps(config)]
    if partition_range:
        args += ["--partition-range", f"{partition_range[0]}...{partition_range[1]}"]
    return args


def python_module(module: str) -> list[str]:
    """argv that runs `module`'s command line with this interpreter.

    Not the console script beside sys.executable: that sibling exists only in a virtualenv (a `--user` or
    system install puts scripts elsewhere). `-P` keeps the working directory off sys.path, so a folder there
    named like one of our packages (`api`, `assets`, ...) cannot shadow the installed ones.
    """
    return [sys.executable, "-P", "-m", module]


class DagsterRuns:
    """The runner process of one CLI command; use as a context manager (it ends the process on exit).

    The runner sets Dagster's pool limits (`init_pools`) before its first run, so a caller may skip them in
    `prepare_instance(..., pools=False)`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.home = Path(env["CASHBOOK_HOME"])
        # Dagster's beta/supersession notices are not for end users; unbuffered so markers and log lines keep order
        quiet = dict(env, PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(python_module("pipelines.run_selections"), env=quiet,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)

    def __enter__(self) -> DagsterRuns:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def warm(self) -> None:
        """Ask the runner to load Great Expectations now: call it before work of several seconds of your own."""
        self._send({"warm": True})

    def _send(self, instruction: dict) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(instruction) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the runner is gone: the next run's output reports how it ended

    def finish(self) -> None:
        """No more runs: the runner exits on its own (`close` waits for it)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()

    def close(self) -> None:
        self.finish()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def materialize(self, selection: str, partition_range: tuple[str, str] | None = None, *,
                    run_config: dict | None = None, log_name: str = "materialize") -> None:
        """One run of `selection`; raises typer.Exit with the run's log tail if it fails."""
        args = materialize_args(selection, partition_range, run_config)
        console.print(f"[dim]$ {shlex.join(['dagster', 'asset', 'materialize', '-m', 'pipelines.definitions', *args])}"
                      "[/dim]")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        log_path = self.home / "logs" / f"{log_name}-{stamp}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        assert self.proc.stdout is not None
        t0 = time.monotonic()
        self._send({"name": log_name, "args": args})
        with log_path.open("w") as log, console.status("running through Dagster ..."):
            outcome = _copy_until_end(self.proc.stdout, log, log_name)
        text = log_path.read_text(errors="replace")
        if outcome != "ok":
            code = self.proc.poll()
            why = f"the runner exited with {code}" if outcome is None else "the run failed"
            tail = "\n".join(line for line in text.splitlines() if "DEBUG" not in line)[-4000:]
            console.print(f"[red]{why}; full log: {log_path}[/red]\n{tail}")
            raise typer.Exit(1)
        console.print(f"[green]run succeeded[/green]: {text.count('STEP_START')} steps in "
                      f"{time.monotonic() - t0:.0f} s (log: {log_path})")


def _copy_until_end(stream: IO[str], log: IO[str], name: str) -> str | None:
    """Copy the runner's lines to `log` until this run's end marker: its outcome, or None if the runner died."""
    for line in stream:
        if line.startswith(MARKER):
            words = line[len(MARKER):].split()
            if words[:2] == ["end", name]:
                return words[2] if len(words) > 2 else None
            continue
        log.write(line)
    return None
