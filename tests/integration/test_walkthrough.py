"""Issue 10 item 7: the README's API walkthrough runs as a script, top to bottom, and cleans up after itself.

`docs/walkthrough.sh` starts localstripe (its own process, GPL) and `cashbook api` in the background on free ports,
waits for readiness, captures the PaymentIntent id and checks the outcome; here it runs against a fresh database.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.api_fixtures import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "walkthrough.sh"


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def test_walkthrough_script_runs_top_to_bottom_and_stops_what_it_started(pg_url: str, tmp_path: Path) -> None:
    api_port, stripe_port = free_port(), free_port()
    env = dict(os.environ, DATABASE_URL=pg_url, CASHBOOK_HOME=str(tmp_path), DAGSTER_HOME=str(tmp_path / "dagster"),
               CB=str(Path(sys.executable).parent), WALKTHROUGH_API_PORT=str(api_port),
               WALKTHROUGH_STRIPE_PORT=str(stripe_port), TMPDIR=str(tmp_path))  # localstripe's pickle stays here
    for key in ("CASHBOOK_API_ENV", "STRIPE_API_BASE", "STRIPE_API_KEY", "JWT_SECRET", "STRIPE_WEBHOOK_SECRET"):
        env.pop(key, None)
    out_path, err_path = tmp_path / "walkthrough.out", tmp_path / "walkthrough.err"
    with out_path.open("wb") as out_f, err_path.open("wb") as err_f:  # files, not pipes: see the script's `&`s
        proc = subprocess.Popen(["bash", str(SCRIPT)], cwd=tmp_path, env=env, stdout=out_f, stderr=err_f,
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # lets the script's trap clean up
                proc.wait(timeout=60)
    out, err = out_path.read_text(), err_path.read_text(errors="replace")
    assert returncode == 0, out[-3000:] + err[-3000:]
    pi = re.search(r"PaymentIntent: (pi_\w+)", out)
    assert pi, out
    assert f'"payment_intent_id":"{pi.group(1)}","status":"succeeded","credits_granted":true' in out
    assert '"status":"active"' in out and '"credits":5' in out
    assert "walkthrough: OK" in out and "walkthrough: cleaned up" in out
    assert not listening(api_port) and not listening(stripe_port)  # the trap stopped both
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"--port {api_port}" not in ps and f"port={stripe_port}" not in ps


def test_readme_walkthrough_lines_are_the_scripts() -> None:
    """Every command line of the README's walkthrough block is a line of docs/walkthrough.sh (kept in step)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## The billing API against localstripe")
    block = readme[start:].split("```bash\n", 1)[1].split("```", 1)[0]
    script = SCRIPT.read_text().splitlines()
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) >= 15
    missing = [line for line in lines if line not in script]
    assert not missing, missing
