"""One rich console for every command: piped output (CI logs, files) gets a readable fixed width."""

import sys

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 140)
