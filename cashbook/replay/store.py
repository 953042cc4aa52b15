"""An export directory (DESIGN Contract 1) indexed for Stripe list semantics.

Indexes are built once at load: per stream a list sorted newest first (created desc, id desc as
the tie-break) with a parallel key array for bisecting `created` bounds and a dict id -> position,
so one page costs O(log n + limit) however large the account is. Filtered lists (`payout=`, `type=`,
`status=`) are computed once per filter value and cached with their own index.
"""

from __future__ import annotations

import bisect
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cashbook.sources.errors import SourceError
from cashbook.sources.registry import LISTED_OBJECTS, STREAMS

Obj = dict[str, Any]

class StripeRequestError(Exception):
    """A request Stripe would refuse; rendered as Stripe's `{"error": {...}}` body."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type_

    def body(self) -> Obj:
        err: Obj = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
        if self.param:
            err["param"] = self.param
        return {"error": err}


@dataclass
class SortedList:
    """Objects newest first with `neg_created` ascending for bisect and id -> position."""

    objs: list[Obj]
    neg_created: list[int] = field(init=False)
    pos: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.objs.sort(key=lambda o: (-o["created"], _neg_id_key(o["id"])))
        self.neg_created = [-o["created"] for o in self.objs]
        self.pos = {o["id"]: i for i, o in enumerate(self.objs)}


def _neg_id_key(obj_id: str) -> tuple[int, ...]:
    # id descending inside one second: invert code points so an ascending sort gives descending ids.
    return (*(-ord(c) for c in obj_id), 1)


def _int_param(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise StripeRequestError(400, f"Invalid integer: {value}", param=name) from None


@dataclass
class ExportStore:
    """All streams of one export directory, loaded into memory."""

    lists: dict[str, SortedList]
    by_id: dict[str, Obj]
    payout_members: dict[str, list[str]]
    _filtered: dict[tuple[str, str, str], SortedList] = field(default_factory=dict)

    @classmethod
    def load(cls, export_dir: Path) -> ExportStore:
        export_dir = Path(export_dir)
        if not export_dir.is_dir():
            raise SourceError(str(export_dir), "export directory does not exist")
        lists: dict[str, SortedList] = {}
        by_id: dict[str, Obj] = {}
        for resource in LISTED_OBJECTS:
            path = export_dir / f"{resource}.jsonl"
            objs = list(_read_jsonl(path)) if path.exists() else []
            for o in objs:
                by_id[o["id"]] = o
            lists[resource] = SortedList(objs)
        if not any((export_dir / f"{r}.jsonl").exists() for r in LISTED_OBJECTS):
            raise SourceError(str(export_dir), "no stream files (balance_transactions.jsonl, charges.jsonl, …): "
                                               "not an export directory")
        members: dict[str, list[str]] = {}
        path = export_dir / "payout_balance_transactions.jsonl"
        if path.exists():
            for lineno, row in enumerate(_read_jsonl(path, need_id=False), 1):
                po, txn = row.get("payout"), row.get("balance_transaction")
                if not isinstance(po, str) or not isinstance(txn, str):
                    raise SourceError(f"{path}:{lineno}", "payout and balance_transaction must be id strings")
                members.setdefault(po, []).append(txn)
        return cls(lists, by_id, members)

    def counts(self) -> dict[str, int]:
        return {name: len(sl.objs) for name, sl in self.lists.items()}

    # ---- list semantics -------------------------------------------------------------------------
    def list_page(self, resource: str, query: dict[str, list[str]]) -> Obj:
        """One page of `GET /v1/<resource>` for parsed query params (multi-valued, Stripe-encoded)."""
        params = _flatten(query)
        allowed = STREAMS[resource].list_filters | {"limit", "starting_after", "ending_before", "created", "expand"}
        for key in params:
            if key not in allowed:
                raise StripeRequestError(400, f"Received unknown parameter: {key}", param=key)
        limit = _int_param("limit", _one(params, "limit") or "10")
        if not 1 <= limit <= 100:
            raise StripeRequestError(400, "This value must be less than or equal to 100 and greater than 0.",
                                     param="limit")
        sl = self._filtered_list(resource, params)
        lo, hi = 0, len(sl.objs)
        created = params.get("created")
        if isinstance(created, dict):
            lo, hi = _created_bounds(sl, created, lo, hi)
        elif isinstance(created, str):
            c = _int_param("created", created)
            lo, hi = bisect.bisect_left(sl.neg_created, -c), bisect.bisect_right(sl.neg_created, -c)
        after, before = _one(params, "starting_after"), _one(params, "ending_before")
        if after and before:
            raise StripeRequestError(400, "You may only specify one of these parameters: starting_after, "
                                          "ending_before.")
        if after:
            start = max(lo, self._cursor(sl, resource, after, "starting_after") + 1)
            page = sl.objs[start:min(hi, start + limit)] if start < hi else []
            has_more = start + limit < hi
        elif before:
            end = min(hi, self._cursor(sl, resource, before, "ending_before"))
            start = max(lo, end - limit)
            page = sl.objs[start:end] if start < end else []
            has_more = start > lo
        else:
            page = sl.objs[lo:min(hi, lo + limit)]
            has_more = lo + limit < hi
        expand = _expand_list(params)
        data = [self._expand(o, expand, list_prefix=True) for o in page]
        return {"object": "list", "data": data, "has_more": has_more, "url": f"/v1/{resource}"}

    def retrieve(self, resource: str, obj_id: str, query: dict[str, list[str]]) -> Obj:
        params = _flatten(query)
        for key in params:
            if key != "expand":
                raise StripeRequestError(400, f"Received unknown parameter: {key}", param=key)
        obj = self.by_id.get(obj_id)
        if obj is None or obj_id not in self.lists[resource].pos:
            raise StripeRequestError(404, f"No such {LISTED_OBJECTS[resource]}: '{obj_id}'", code="resource_missing",
                                     param="id")
        return self._expand(obj, _expand_list(params), list_prefix=False)

    def _cursor(self, sl: SortedList, resource: str, obj_id: str, param: str) -> int:
        i = sl.pos.get(obj_id)
        if i is None:
            raise StripeRequestError(400, f"No such {LISTED_OBJECTS[resource]}: '{obj_id}'", code="resource_missing",
                                     param=param)
        return i

    def _filtered_list(self, resource: str, params: dict[str, Any]) -> SortedList:
        base = self.lists[resource]
        filters = {k: v for k, v in params.items() if k in STREAMS[resource].list_filters}
        if resource == "subscriptions" and "status" not in filters:
            filters["status"] = "__not_canceled__"  # Stripe hides canceled subscriptions by default
        if not filters:
            return base
        if len(filters) > 1 and "payout" in filters:
            raise StripeRequestError(400, "payout cannot be combined with other filters in this replay server.")
        key = (resource, orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode(), "")
        cached = self._filtered.get(key)
        if cached is not None:
            return cached
        if "payout" in filters:
            po = filters["payout"]
            if po not in self.lists["payouts"].pos:
                raise StripeRequestError(404, f"No such payout: '{po}'", code="resource_missing", param="payout")
            payout = self.by_id[po]
            if payout.get("automatic") is False:
                raise StripeRequestError(400, "Balance transaction history can only be filtered on automatic "
                                              "transfers, not manual.", param="payout")
            objs = [self.by_id[t] for t in self.payout_members.get(po, []) if t in self.by_id]
        else:
            objs = [o for o in base.objs if all(_matches(o, k, v) for k, v in filters.items())]
        sl = SortedList(list(objs))
        self._filtered[key] = sl
        return sl

    def _expand(self, obj: Obj, paths: list[str], *, list_prefix: bool) -> Obj:
        if not paths:
            return obj
        out = dict(obj)
        for path in paths:
            parts = path.split(".")
            if list_prefix:
                if parts[0] != "data" or len(parts) < 2:
                    raise StripeRequestError(400, f"This property cannot be expanded ({path}).", param="expand")
                parts = parts[1:]
            if len(parts) != 1:
                raise StripeRequestError(400, f"This property cannot be expanded ({path}).", param="expand")
            field_name = parts[0]
            value = out.get(field_name)
            if field_name not in out:
                raise StripeRequestError(400, f"This property cannot be expanded ({path}).", param="expand")
            if isinstance(value, str):
                target = self.by_id.get(value)
                if target is not None:
                    out[field_name] = target
        return out


def _matches(o: Obj, key: str, value: Any) -> bool:
    if key == "status" and value == "__not_canceled__":
        return o.get("status") != "canceled"
    if key == "status" and value == "all":
        return True
    if key == "type":
        return fnmatch.fnmatchcase(str(o.get("type")), value) if "*" in value else o.get("type") == value
    if key == "types":
        vals = value if isinstance(value, list) else [value]
        return o.get("type") in vals
    if key == "price":
        items = (o.get("items") or {}).get("data") or []
        return any(((i.get("price") or {}).get("id") if isinstance(i.get("price"), dict) else i.get("price"))
                   == value for i in items)
    v = o.get(key)
    if isinstance(v, dict):
        v = v.get("id")
    return str(v) == str(value) if not isinstance(v, bool) else str(v).lower() == str(value).lower()


def _created_bounds(sl: SortedList, created: dict[str, Any], lo: int, hi: int) -> tuple[int, int]:
    for op, raw in created.items():
        if op not in ("gt", "gte", "lt", "lte"):
            raise StripeRequestError(400, f"Received unknown parameter: created[{op}]", param=f"created[{op}]")
        v = _int_param(f"created[{op}]", raw if isinstance(raw, str) else str(raw))
        neg = sl.neg_created
        if op == "lt":      # created < v  <=>  -created > -v
            lo = max(lo, bisect.bisect_right(neg, -v))
        elif op == "lte":   # created <= v <=>  -created >= -v
            lo = max(lo, bisect.bisect_left(neg, -v))
        elif op == "gte":   # created >= v <=>  -created <= -v
            hi = min(hi, bisect.bisect_right(neg, -v))
        else:               # created > v  <=>  -created < -v
            hi = min(hi, bisect.bisect_left(neg, -v))
    return lo, hi


def _flatten(query: dict[str, list[str]]) -> dict[str, Any]:
    """Stripe form encoding -> nested: `created[gte]=1` -> {"created": {"gte": "1"}},
    `expand[]=a` / `expand[0]=a` -> {"expand": ["a"]}, `types[]=x` -> {"types": ["x"]}."""
    out: dict[str, Any] = {}
    for key, values in query.items():
        if "[" in key and key.endswith("]"):
            name, sub = key[:-1].split("[", 1)
            if sub == "" or sub.isdigit():
                out.setdefault(name, [])
                if not isinstance(out[name], list):
                    raise StripeRequestError(400, f"Invalid array: {name}", param=name)
                out[name].extend(values)
            else:
                out.setdefault(name, {})
                if not isinstance(out[name], dict):
                    raise StripeRequestError(400, f"Invalid hash: {name}", param=name)
                out[name][sub] = values[-1]
        else:
            out[key] = values[-1]
    return out


def _one(params: dict[str, Any], key: str) -> str | None:
    v = params.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise StripeRequestError(400, f"Invalid string: {key}", param=key)
    return v


def _expand_list(params: dict[str, Any]) -> list[str]:
    v = params.get("expand")
    if v is None:
        return []
    if not isinstance(v, list):
        raise StripeRequestError(400, "Invalid array: expand", param="expand")
    return v


def _read_jsonl(path: Path, *, need_id: bool = True) -> Any:
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SourceError(f"{path}:{lineno}", f"invalid JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise SourceError(f"{path}:{lineno}", "expected a JSON object")
            if need_id and (not isinstance(obj.get("id"), str) or not isinstance(obj.get("created"), int)):
                raise SourceError(f"{path}:{lineno}", "object needs a string `id` and an integer `created`")
            yield obj
