"""Money as integer minor units, with Stripe's currency exponents.

Parsing never goes through float: a decimal string is split on its point and checked against the
currency's exponent, so `49.005` in usd is an error, not a silent rounding.
"""

from __future__ import annotations

import re

ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# ISO 4217 codes Stripe settles or presents in (a superset is fine: unknown codes are rejected).
KNOWN_CURRENCIES = frozenset(
    ["aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr", "kmf", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs", "vnd", "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw"]
)

_DECIMAL_RE = re.compile(r"^([+-]?)(\d+)(?:\.(\d+))?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def normalize_currency(code: str) -> str:
    """Lower-case and validate an ISO 4217 code; unknown codes are an error, never guessed."""
    c = (code or "").strip().lower()
    if c not in KNOWN_CURRENCIES:
        raise MoneyError(f"unknown currency {code!r}")
    return c


def exponent(currency: str) -> int:
    c = currency.lower()
    if c in ZERO_DECIMAL:
        return 0
    if c in THREE_DECIMAL:
        return 3
    return 2


def to_minor(amount: str, currency: str) -> int:
    """Parse a signed decimal string in major units into exact minor units.

    More fractional digits than the currency has are accepted only when they are zeros
    (`4900.00` jpy is 4900), otherwise the value is not representable and is refused.
    """
    text = (amount or "").strip()
    m = _DECIMAL_RE.match(text)
    if not m:
        raise MoneyError(f"amount {amount!r} is not a decimal number")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    exp = exponent(currency)
    if len(frac) > exp:
        if frac[exp:].strip("0"):
            raise MoneyError(f"amount {amount!r} has more than {exp} decimals for {currency}")
        frac = frac[:exp]
    minor = int(whole) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    return -minor if sign == "-" else minor


def to_major_str(minor: int, currency: str) -> str:
    """Format minor units as a decimal string in major units (`4900` usd → `49.00`)."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise MoneyError(f"minor amount must be an int, got {type(minor).__name__}")
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    q, r = divmod(abs(minor), 10**exp)
    return f"{sign}{q}.{r:0{exp}d}"
