"""Bearer tokens (HS256 JWT): `sub` is the user id, `admin` a flag. Minted by `cashbook token` in development."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"


class TokenError(ValueError):
    """The token is missing, expired, or not signed by us."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    admin: bool = False
    email: str | None = None


def mint(user_id: str, secret: str, *, admin: bool = False, email: str | None = None,
         ttl_seconds: int = 7 * 24 * 3600, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": user_id, "admin": admin, "iat": issued, "exp": issued + ttl_seconds}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("token has no subject")
    return Principal(sub, bool(claims.get("admin", False)), claims.get("email"))
