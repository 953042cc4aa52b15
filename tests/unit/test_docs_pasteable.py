"""The README's admin flow and docs/api.md's analytics lines are meant to be pasted into bash as they are.

They were not: they used `$B` without setting it, minted tokens without `CASHBOOK_API_ENV=dev` (so `cashbook
token` refused and every call was a 401) and had placeholders (`job_…`, `mp_…`, `rpt_…`, `ch_…`) where an
id from an earlier answer belongs. These checks keep those mistakes out; the lines themselves were run
against `make api` on the demo's data (see the docscheck report).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = {
    "README admin flow": (ROOT / "README.md", "### The admin flow"),
    "docs/api.md analytics": (ROOT / "docs" / "api.md", "## Analytics (admin only)"),
}
ASSIGN = re.compile(r"(?:^|[\s;(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
USE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _block(path: Path, heading: str) -> list[str]:
    text = path.read_text()
    section = text[text.index(heading):]
    body = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return body.splitlines()


def _code(line: str) -> str:
    """The line without its trailing `# comment` (none of these lines has a `#` inside a string)."""
    return line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""


def test_blocks_set_every_variable_before_use_and_have_no_placeholders() -> None:
    for name, (path, heading) in BLOCKS.items():
        lines = _block(path, heading)
        assert len(lines) >= 5, name
        assigned: set[str] = set()
        problems = []
        for n, line in enumerate(lines, 1):
            code = _code(line)
            if "…" in code or re.search(r"<[a-z_]+>", code):
                problems.append(f"{name} line {n}: placeholder in {code.strip()!r}")
            body = re.sub(r"\w+\(\)\s*\{.*\}", "", code)  # a function body's $1 is its argument
            for var in USE.findall(body):
                if var not in assigned and not var.isdigit():
                    problems.append(f"{name} line {n}: ${var} used before it is set")
            assigned.update(ASSIGN.findall(code))
        assert not problems, problems


def test_tokens_are_minted_with_the_development_secret_in_dev() -> None:
    for name, (path, heading) in BLOCKS.items():
        code = "\n".join(_code(line) for line in _block(path, heading))
        first_token = code.index("cashbook token")
        assert "CASHBOOK_API_ENV=dev" in code[:first_token], name  # else `cashbook token` refuses: 401s follow
        assert "admin-role" in code[:first_token], name  # the token alone grants nothing
