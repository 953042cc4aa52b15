"""Bearer tokens (HS256 JWT), parsed strictly (issue 12, defect 6).

A token says who the caller is (`sub`, optional `email`), for which audience it was issued (`aud`: the
billing API or the admin API) and by whom (`iss`). It never says what the caller may do: admin rights are
the database role (`users.is_admin`), checked on every admin request, so revoking a role takes effect at
once. Admin tokens are short-lived: the API refuses one whose lifetime (`exp − iat`) exceeds its maximum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "cashbook"
USER_AUDIENCE = "cashbook-api"
ADMIN_AUDIENCE = "cashbook-admin"
MAX_SUBJECT_LEN = 200
MAX_EMAIL_LEN = 320
_LEEWAY_SECONDS = 30  # clock skew between the issuer and us


class TokenError(ValueError):
    """The token is missing, expired, malformed, or not signed by us for this audience."""


class WrongAudience(TokenError):
    """Well signed and valid, but for another audience (e.g. a user token on an admin route)."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str | None = None
    audience: str = USER_AUDIENCE


def mint(user_id: str, secret: str, *, audience: str = USER_AUDIENCE, issuer: str = ISSUER,
         email: str | None = None, ttl_seconds: int = 3600, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": user_id, "iss": issuer, "aud": audience, "iat": issued,
                                 "exp": issued + ttl_seconds}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int:  # not bool, not float, not str
        raise TokenError(f"claim {name!r} must be an integer")
    return value


def decode(token: str, secret: str, *, audience: str = USER_AUDIENCE, issuer: str = ISSUER,
           max_lifetime_seconds: int | None = None) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                            leeway=_LEEWAY_SECONDS, options={"require": ["sub", "exp", "iat", "iss", "aud"],
                                                             "strict_aud": True})
    except jwt.InvalidAudienceError as exc:
        raise WrongAudience(str(exc)) from None
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUBJECT_LEN or not sub.isprintable():
        raise TokenError("claim 'sub' must be 1..200 printable characters")
    iat, exp = _int_claim(claims, "iat"), _int_claim(claims, "exp")
    if exp <= iat:
        raise TokenError("token expires before it was issued")
    if max_lifetime_seconds is not None and exp - iat > max_lifetime_seconds:
        raise TokenError(f"token lifetime {exp - iat} s exceeds {max_lifetime_seconds} s for this audience")
    email = claims.get("email")
    if email is not None and not (isinstance(email, str) and 0 < len(email) <= MAX_EMAIL_LEN
                                  and email.isprintable()):
        raise TokenError("claim 'email' must be a string of at most 320 printable characters")
    return Principal(sub, email, audience)
