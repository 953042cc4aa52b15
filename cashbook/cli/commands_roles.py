"""`cashbook admin-role USER [--revoke]`: the admin role lives in the database (users.is_admin), not in tokens."""

from __future__ import annotations

import typer

from cashbook.cli import app
from cashbook.settings import get_settings


@app.command("admin-role")
def admin_role(user: str = typer.Argument(..., help="user id (the token's sub)"),
               revoke: bool = typer.Option(False, "--revoke", help="take the role away (effective at once)")) -> None:
    """Grant (or revoke) the admin role. Admin routes check it on every request; tokens carry no rights."""
    import psycopg

    from cashbook.db import database_url
    from cashbook.db.migrate import migrate

    url = database_url(get_settings())
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO users (id, is_admin) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE"
                     " SET is_admin = EXCLUDED.is_admin", (user, not revoke))
    typer.echo(f"{user}: admin role {'revoked' if revoke else 'granted'}")
