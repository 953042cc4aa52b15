"""The Stripe API source: windowed, concurrent, rate-limited listing into the raw-stream tables.

This is the only code that talks to Stripe for ingestion. It returns the same Arrow tables as the
export-directory source (rows built by `cashbook.sources.streams`), so the raw lake does not care
where a partition came from.

How a day is read: `created[gte]=day`, `created[lt]=day+1`, `limit=100`, `starting_after` paging,
newest first. Pages of all requested days are fetched concurrently by a small thread pool that draws
from ONE `TokenBucket`, so the account's per-second limit holds however many windows run. When a
window turns out to be big (estimated from the density of its first page) and workers are idle, its
unread remainder is split by time into sub-windows that page in parallel: a single huge day still
keeps every worker busy. Retries are ours (the SDK's own are off): 429/5xx/network errors back off
exponentially with jitter, honouring `Retry-After` and `Stripe-Should-Retry`; any other 4xx fails
at once with Stripe's message and the request that caused it.

Responses are fetched with the SDK's `raw_request` and parsed with orjson into plain dicts: Stripe
objects are never turned into `StripeObject`s (which are not dicts, NOTES §1), which also keeps the
CPU cost per object low.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import orjson
import pyarrow as pa
import requests
import requests.adapters
import stripe
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from cashbook.settings import STRIPE_API_VERSION
from cashbook.sources.errors import SourceError
from cashbook.sources.ratelimit import TokenBucket, default_rate
from cashbook.sources.registry import BALANCE_SOURCE_STREAMS, ENDPOINTS
from cashbook.sources.streams import (
    STREAM_COLUMNS,
    canonical_json,
    checked_batch,
    gc_paused,
    membership_row,
    row_getter,
    schema_for,
    sort_table,
    to_batch,
    to_table,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PAGE_LIMIT = 100

class StripeApiError(SourceError):
    """Stripe refused a request (after retries, if it was retryable); `where` is the request."""

    def __init__(self, where: str, reason: str, status: int | None = None) -> None:
        super().__init__(where, reason)
        self.status = status

    def __reduce__(self) -> tuple[type, tuple[str, str, int | None]]:  # type: ignore[override]
        return type(self), (self.where, self.reason, self.status)


@dataclass
class SourceStats:
    """Counters for Dagster metadata and progress bars; safe to update from worker threads."""

    requests: int = 0
    pages: int = 0
    objects: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    duplicates: int = 0
    splits: int = 0
    limiter_wait_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for k, v in deltas.items():
                setattr(self, k, getattr(self, k) + v)

    def warn(self, message: str) -> None:
        log.warning(message)
        with self._lock:
            self.warnings.append(message)

    def as_metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass(frozen=True)
class _Window:
    """One chain of pages: `[start, end)` in Unix seconds, resumed after `cursor` if set."""

    stream: str
    key: Any                      # result bucket: a day, or a payout id for memberships
    start: int
    end: int
    cursor: str | None = None
    top: int | None = None        # created of the previous page's last object (for density)
    params: tuple[tuple[str, Any], ...] = ()
    path: str | None = None
    filtered: bool = True         # False: the server refused `created`; filter client-side
    splittable: bool = True


def _ts(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError(f"datetime {value.isoformat()} must be timezone-aware (UTC)")
    return int(value.timestamp())


def _day_bounds(day: dt.date) -> tuple[int, int]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return _ts(start), _ts(start + dt.timedelta(days=1))


class StripeApiSource:
    """Reads raw streams from the Stripe API (or anything speaking its list protocol)."""

    def __init__(self, api_key: str, api_base: str | None = None, rate_limit: float | None = None,
                 max_workers: int = 8, *, limiter: TokenBucket | None = None, max_attempts: int = 8,
                 backoff_base: float = 0.5, backoff_max: float = 30.0, timeout: float = 80.0,
                 progress: Callable[[SourceStats], None] | None = None, split_min_pages: int = 4) -> None:
        if not api_key:
            raise ValueError("a Stripe API key is required (STRIPE_API_KEY)")
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.api_base = api_base
        self.limiter = limiter or TokenBucket(rate_limit or default_rate(api_key))
        self.max_workers = max_workers
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.progress = progress
        self.split_min_pages = split_min_pages
        self.stats = SourceStats()
        self._rng = random.Random()
        base = {"api": api_base} if api_base else None
        self.client = stripe.StripeClient(
            api_key, base_addresses=base, stripe_version=STRIPE_API_VERSION, max_network_retries=0,  # type: ignore[arg-type]
            http_client=stripe.RequestsClient(timeout=timeout, session=_limited_session(self, max_workers)),
        )
        self._unfiltered_streams: set[str] = set()  # servers that refused `created` (localstripe)
        self._lock = threading.Lock()

    # ---- public interface ---------------------------------------------------------------------
    def read_range(self, stream: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
        """All objects of `stream` created in [start, end) (memberships: of payouts created then)."""
        s, e = _ts(start), _ts(end)
        if stream == "payout_balance_transactions":
            return self._memberships({"range": (s, e)})["range"]
        return self._tables(stream, [self._window(stream, "range", s, e)])["range"]

    def metadata(self) -> dict[str, Any]:
        """What the run cost (`StripeReader`): requests, pages, objects, retries, waits, the first warnings."""
        stats = self.stats.as_metadata()
        meta: dict[str, Any] = {f"api/{k}": v for k, v in stats.items() if k != "warnings"}
        if stats.get("warnings"):
            meta["api/warnings"] = "\n".join(stats["warnings"][:20])
        return {"source": "api", **meta}

    def read_days(self, stream: str, days: list[dt.date]) -> dict[dt.date, pa.Table]:
        """One table per UTC day of `created`, all days fetched concurrently under one limiter."""
        days = sorted(set(days))
        if stream == "payout_balance_transactions":
            return self._memberships({d: _day_bounds(d) for d in days})
        tables = self._tables(stream, [self._window(stream, d, *_day_bounds(d)) for d in days])
        return {d: tables[d] for d in days}

    def read_days_expanded(self, days: list[dt.date]) -> tuple[dict[dt.date, pa.Table], dict[str, list[Obj]]]:
        """Balance transactions per day plus their sources, in one pass (`expand[]=data.source`).

        Each BT page then carries its charge/refund/dispute/payout objects, which saves one request per
        100 sources. The BT rows are identical to `read_days("balance_transactions", …)` (the source is
        collapsed back to its id). The sources come back as plain objects by stream: they are the BTs'
        sources, not complete partitions (a failed charge has no BT), so full `charges` partitions still
        come from `read_days("charges", …)`.
        """
        days = sorted(set(days))
        windows = [replace(self._window("balance_transactions", d, *_day_bounds(d)),
                           params=(("expand", ["data.source"]),)) for d in days]
        sources: dict[str, dict[str, Obj]] = {s: {} for s in BALANCE_SOURCE_STREAMS.values()}
        tables = self._tables("balance_transactions", windows, sources)
        return {d: tables[d] for d in days}, {s: list(v.values()) for s, v in sources.items()}

    def _tables(self, stream: str, windows: list[_Window],
                sources: dict[str, dict[str, Obj]] | None = None) -> dict[Any, pa.Table]:
        """Fetch `windows`; one table per window key, each built as soon as that key's last window is read."""
        rows = _PrebuiltRows.for_stream(stream)
        tables: dict[Any, pa.Table] = {}

        def finish(key: Any, objs: dict[str, Obj]) -> None:
            tables[key] = self._table(stream, objs.values(), rows.table(key) if rows else None)

        self._run(windows, sources=sources, rows=rows, finish=finish)
        return tables

    def list_objects(self, stream: str, start: dt.datetime, end: dt.datetime) -> list[Obj]:
        """Plain objects created in [start, end) (e.g. events), fetched as concurrent day windows."""
        s, e = _ts(start), _ts(end)
        cuts = list(range(s - s % 86400 + 86400, e, 86400))
        bounds = [s, *cuts, e]
        windows = [self._window(stream, i, a, b) for i, (a, b) in enumerate(itertools.pairwise(bounds)) if a < b]
        objs = self._run(windows)
        return [o for w in windows for o in objs[w.key].values()]

    def retrieve(self, stream: str, obj_id: str) -> Obj:
        path = ENDPOINTS[stream][0] + "/" + obj_id
        return self._get(path, {})

    # ---- windows and pages --------------------------------------------------------------------
    def _window(self, stream: str, key: Any, start: int, end: int) -> _Window:
        if stream not in ENDPOINTS:
            raise ValueError(f"unknown stream {stream!r}; expected one of {sorted(ENDPOINTS)}")
        path, fixed = ENDPOINTS[stream]
        return _Window(stream, key, start, end, params=tuple(fixed.items()), path=path,
                       filtered=stream not in self._unfiltered_streams)

    def _params(self, w: _Window) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": PAGE_LIMIT, **dict(w.params)}
        if w.filtered:
            params["created"] = {"gte": w.start, "lt": w.end}
        if w.cursor:
            params["starting_after"] = w.cursor
        return params

    def _fetch(self, w: _Window) -> tuple[_Window, Obj]:
        params = self._params(w)
        try:
            return w, self._get(w.path or ENDPOINTS[w.stream][0], params)
        except StripeApiError as exc:
            # localstripe (and other partial fakes) refuse `created` on some lists: page newest first
            # without it and stop below the window instead (NOTES §3).
            # Some answer a bare "Bad request", so the proof is that the same list without it works.
            if not (w.filtered and exc.status == 400):
                raise
            w2 = replace(w, filtered=False, cursor=None, splittable=False)
            try:
                page = self._get(w2.path or ENDPOINTS[w.stream][0], self._params(w2))
            except StripeApiError:
                raise exc from None
            with self._lock:
                first = w.stream not in self._unfiltered_streams
                self._unfiltered_streams.add(w.stream)
            if first:
                self.stats.warn(f"{w.stream}: server refused the created filter ({exc.reason}); "
                                "paging newest-first and filtering client-side")
            return w2, page

    def _run(self, windows: list[_Window], sources: dict[str, dict[str, Obj]] | None = None,
             rows: _PrebuiltRows | None = None,
             finish: Callable[[Any, dict[str, Obj]], None] | None = None) -> dict[Any, dict[str, Obj]]:
        """Fetch every window to exhaustion; returns key -> id -> object.

        With `rows`, each kept object is also turned into its table row as its page arrives, and `finish(key,
        objects)` is called as soon as a key's last window (splits included) is read, so that work overlaps
        the waiting on the network for the other keys instead of following the last response.
        """
        results: dict[Any, dict[str, Obj]] = {w.key: {} for w in windows}
        open_windows = Counter(w.key for w in windows)
        queue: deque[_Window] = deque(windows)
        inflight: dict[Future[tuple[_Window, Obj]], _Window] = {}
        with gc_paused(), ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="stripe-api") as pool:
            try:
                while queue or inflight:
                    while queue and len(inflight) < self.max_workers:
                        w = queue.popleft()
                        inflight[pool.submit(self._fetch, w)] = w
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        del inflight[fut]
                        w, page = fut.result()
                        nxt = self._absorb(w, page, results[w.key], sources, rows)
                        idle = 2 * self.max_workers - len(queue) - len(inflight)
                        following = self._maybe_split(w, page, nxt, idle) if nxt else []
                        queue.extend(following)
                        open_windows[w.key] += len(following) - 1
                        if finish is not None and open_windows[w.key] == 0:
                            finish(w.key, results[w.key])
                        if self.progress:
                            self.progress(self.stats)
            except BaseException:
                for fut in inflight:
                    fut.cancel()
                raise
        return results

    def _absorb(self, w: _Window, page: Obj, bucket: dict[str, Obj],
                sources: dict[str, dict[str, Obj]] | None, rows: _PrebuiltRows | None = None) -> _Window | None:
        """Keep the page's objects that fall in the window; return the continuation, if any."""
        data = page.get("data")
        if not isinstance(data, list):
            raise StripeApiError(self._where(w), "list response without a `data` array")
        where = self._where(w)
        kept: list[Obj] = []
        for obj in data:
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise StripeApiError(where, f"list item is not an object with an id: {obj!r:.200}")
            created = obj.get("created")
            if not w.filtered and isinstance(created, int) and not w.start <= created < w.end:
                continue
            if sources is not None and isinstance(obj.get("source"), dict):
                src = obj["source"]
                obj = {**obj, "source": src.get("id")}
                target = BALANCE_SOURCE_STREAMS.get(str(src.get("object")))
                if target is not None:
                    sources[target].setdefault(src["id"], src)
            if obj["id"] in bucket:
                self.stats.add(duplicates=1)
                continue
            bucket[obj["id"]] = obj
            kept.append(obj)
        if rows is not None:
            rows.add_page(w.key, kept)
        self.stats.add(pages=1, objects=len(kept))
        if not page.get("has_more") or not data:
            return None
        last = data[-1]
        last_created = last.get("created")
        if not w.filtered and isinstance(last_created, int) and last_created < w.start:
            return None  # newest-first scan went below the window: done
        return replace(w, cursor=last["id"], top=last_created if isinstance(last_created, int) else w.top)

    def _maybe_split(self, w: _Window, page: Obj, nxt: _Window, idle: int) -> list[_Window]:
        """Split a big window's unread remainder by time when workers would otherwise sit idle."""
        last_created = nxt.top
        if not (w.filtered and w.splittable and idle > 0 and isinstance(last_created, int)):
            return [nxt]
        span_read = max(1, (w.top if w.top is not None else w.end) - last_created)
        remaining = last_created - w.start + 1
        est_pages = len(page["data"]) * remaining / span_read / PAGE_LIMIT
        if est_pages < self.split_min_pages or remaining < 3:
            return [nxt]
        k = int(min(idle + 1, est_pages // 2, remaining - 1))
        if k < 2:
            return [nxt]
        cuts = sorted({w.start + (last_created - w.start) * i // k for i in range(1, k)} - {w.start})
        bounds = [w.start, *cuts]
        parts = [replace(nxt, start=a, end=b, cursor=None, top=None) for a, b in itertools.pairwise(bounds)]
        # The chunk holding the cursor's second keeps the cursor, so ties at that second are not re-read.
        parts.append(replace(nxt, start=bounds[-1], end=last_created + 1))
        self.stats.add(splits=1)
        return parts

    # ---- payouts and their members ------------------------------------------------------------
    def _memberships(self, windows: dict[Any, tuple[int, int]]) -> dict[Any, pa.Table]:
        payouts = self._run([self._window("payouts", k, s, e) for k, (s, e) in windows.items()])
        payout_created: dict[str, int] = {}
        member_windows: list[_Window] = []
        key_of: dict[str, Any] = {}
        for key, objs in payouts.items():
            for po in objs.values():
                payout_created[po["id"]] = po["created"]
                if po.get("automatic") is False or po.get("reconciliation_status") == "not_applicable":
                    self.stats.warn(f"payout {po['id']}: manual payout, Stripe has no member list for it "
                                    "(GET /v1/balance_transactions?payout= is refused); not reconciled by membership")
                    continue
                key_of[po["id"]] = key
                member_windows.append(_Window("balance_transactions", po["id"], 0, 2**62,
                                              params=(("payout", po["id"]),), path="/v1/balance_transactions",
                                              filtered=False, splittable=False))
        members = self._run(member_windows)
        rows: dict[Any, list[dict[str, Any]]] = {k: [] for k in windows}
        for po_id, bts in members.items():
            where = f"GET /v1/balance_transactions?payout={po_id}"
            for txn in bts:
                rows[key_of[po_id]].append(
                    membership_row({"payout": po_id, "balance_transaction": txn}, where, payout_created))
        return {k: to_table("payout_balance_transactions", r) for k, r in rows.items()}

    # ---- rows ---------------------------------------------------------------------------------
    def _table(self, stream: str, objs: Iterable[Obj], prebuilt: pa.Table | None = None) -> pa.Table:
        if stream not in STREAM_COLUMNS:
            raise ValueError(f"stream {stream!r} has no raw table")
        path = ENDPOINTS[stream][0]
        objs = list(objs)
        if prebuilt is None or prebuilt.num_rows != len(objs):
            with gc_paused():
                prebuilt = pa.Table.from_batches(
                    [to_batch(stream, objs, lambda i: f"GET {path} ({objs[i].get('id')})")])
        return sort_table(stream, prebuilt)

    # ---- one request with retries -------------------------------------------------------------
    @staticmethod
    def _where(w: _Window) -> str:
        return f"GET {w.path or ENDPOINTS[w.stream][0]} [{w.start}, {w.end}) after {w.cursor or '-'}"

    def _get(self, path: str, params: dict[str, Any]) -> Obj:
        where = f"GET {path}?{urlencode(_flat(params))}"
        retrying = Retrying(stop=stop_after_attempt(self.max_attempts), wait=self._wait,
                            retry=retry_if_exception(self._retryable), before_sleep=self._count_retry,
                            reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(path, params)
        except stripe.StripeError as exc:
            status = exc.http_status
            err = exc.json_body.get("error", {}) if isinstance(exc.json_body, dict) else {}
            msg = err.get("message") or exc.user_message or str(exc) or type(exc).__name__
            reason = f"Stripe answered HTTP {status}: {msg}" if status else f"Stripe request failed: {msg}"
            if err.get("param"):
                reason += f" (param {err['param']})"
            raise StripeApiError(where, reason, status) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, path: str, params: dict[str, Any]) -> Obj:
        resp = self.client.raw_request("get", path, **params)  # the token is taken at the wire (_LimitedAdapter)
        body = orjson.loads(resp.body)
        if not isinstance(body, dict):
            raise StripeApiError(f"GET {path}", "response is not a JSON object")
        return body

    @staticmethod
    def _headers(exc: BaseException) -> dict[str, str]:
        headers = getattr(exc, "headers", None) or {}
        return {str(k).lower(): str(v) for k, v in dict(headers).items()}

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, stripe.APIConnectionError):
            return True
        if not isinstance(exc, stripe.StripeError):
            return False
        should = self._headers(exc).get("stripe-should-retry")
        status = exc.http_status or 0
        if status == 429:
            self.stats.add(rate_limited=1)
        elif status >= 500:
            self.stats.add(server_errors=1)
        if should == "false":
            return False
        if should == "true":
            return True
        return status == 429 or status >= 500

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        delay = backoff * (0.5 + self._rng.random() / 2)  # jitter: spread synchronized retries
        retry_after = self._headers(exc).get("retry-after") if exc else None
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        return delay

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.add(retries=1)


class _LimitedAdapter(requests.adapters.HTTPAdapter):
    """Takes the limiter's token immediately before the request goes on the wire.

    Taken before the SDK built the request instead, a thread held a token while it waited for the GIL or the
    CPU, and several such requests could leave together: the server then counts a burst the limiter never
    granted. Here only the socket write follows the token. Every attempt (retries included) passes here once.
    """

    def __init__(self, source: StripeApiSource, connections: int) -> None:
        super().__init__(pool_connections=1, pool_maxsize=max(connections, 10))
        self.source = source

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        waited = self.source.limiter.acquire()
        self.source.stats.add(requests=1, limiter_wait_seconds=waited)
        return super().send(request, *args, **kwargs)


def _limited_session(source: StripeApiSource, connections: int) -> requests.Session:
    session = requests.Session()
    adapter = _LimitedAdapter(source, connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _PrebuiltRows:
    """Arrow batches built page by page as objects arrive, per window key (`checked_batch`): the work
    overlaps the waiting on the network. A key with a page the fast path cannot vouch for is left to the
    usual conversion of its objects at the end (`to_batch`, which names a bad object)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.getter = row_getter(stream)
        self.batches: dict[Any, list[pa.RecordBatch]] = {}
        self.failed: set[Any] = set()

    @classmethod
    def for_stream(cls, stream: str) -> _PrebuiltRows | None:
        return cls(stream) if stream in STREAM_COLUMNS else None

    def add_page(self, key: Any, objs: list[Obj]) -> None:
        if key in self.failed or not objs:
            return
        try:
            batch = checked_batch(self.stream, [self.getter(o) for o in objs], [canonical_json(o) for o in objs])
        except Exception:
            self.failed.add(key)
            self.batches.pop(key, None)
            return
        self.batches.setdefault(key, []).append(batch)

    def table(self, key: Any) -> pa.Table | None:
        if key in self.failed:
            return None
        return pa.Table.from_batches(self.batches.get(key, []), schema=schema_for(self.stream))


def _flat(params: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in params.items():
        if isinstance(v, dict):
            out.extend((f"{k}[{sk}]", sv) for sk, sv in v.items())
        elif isinstance(v, list):
            out.extend((f"{k}[]", x) for x in v)
        else:
            out.append((k, v))
    return out

