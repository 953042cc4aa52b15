"""The fast row builder (`to_batch`, `lines_to_batch`) is `to_row` by another road: same rows, same errors."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pyarrow as pa
import pytest

from cashbook.sources.errors import SourceError
from cashbook.sources.streams import (
    PAYOUT_MEMBERSHIP_SCHEMA,
    STREAM_COLUMNS,
    lines_to_batch,
    membership_lines_to_batch,
    membership_row,
    schema_for,
    to_batch,
    to_row,
)


def _bt(i: int, **changes: Any) -> dict[str, Any]:
    obj = {"id": f"txn_{i}", "object": "balance_transaction", "amount": 100 + i, "fee": 3, "net": 97 + i,
           "currency": "usd", "created": 1_700_000_000 + i, "available_on": 1_700_100_000, "type": "charge",
           "reporting_category": "charge", "source": f"ch_{i}", "status": "available", "exchange_rate": None,
           "fee_details": [{"amount": 3, "currency": "usd", "type": "stripe_fee"}], "description": None,
           "brand_new_field": {"z": 1, "a": [i]}}
    obj.update(changes)
    return obj


def _slow(stream: str, objs: list[Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([to_row(stream, o, f"x:{i + 1}") for i, o in enumerate(objs)],
                                      schema=schema_for(stream))


def _where(i: int) -> str:
    return f"x:{i + 1}"


def _lines(objs: list[Any]) -> list[bytes]:
    return [orjson.dumps(o) for o in objs]


def _error(fn, *args) -> tuple[str, str]:
    with pytest.raises(SourceError) as err:
        fn(*args)
    return err.value.where, err.value.reason


GOOD_VARIANTS = {
    "plain": [_bt(i) for i in range(5)],
    "expanded source object": [_bt(0, source={"id": "ch_0", "object": "charge", "amount": 5}), _bt(1)],
    "all optional fields absent": [{k: v for k, v in _bt(0).items() if k not in ("status", "description",
                                                                                  "available_on", "exchange_rate")}],
    "exchange rate as number": [_bt(0, exchange_rate=1.234567), _bt(1)],
    "currency with spaces (accepted by to_row as given)": [_bt(0, currency="usd"), _bt(1, currency=" usd")],
    "unknown reporting category kept": [_bt(0, reporting_category="brand_new_category")],
    "empty batch": [],
}


@pytest.mark.parametrize("name", GOOD_VARIANTS)
def test_accepted_batches_equal_to_row(name: str) -> None:
    objs = GOOD_VARIANTS[name]
    want = _slow("balance_transactions", copy.deepcopy(objs))
    assert to_batch("balance_transactions", copy.deepcopy(objs), _where).equals(want)
    assert lines_to_batch("balance_transactions", _lines(objs), _where).equals(want)


def test_every_stream_of_a_simulated_account_matches(simulated_objects: dict[str, list[dict]]) -> None:
    for stream in STREAM_COLUMNS:
        objs = simulated_objects[stream]
        assert objs, stream
        want = _slow(stream, copy.deepcopy(objs))
        assert to_batch(stream, copy.deepcopy(objs), _where).equals(want), stream
        assert lines_to_batch(stream, _lines(objs), _where).equals(want), stream


@pytest.fixture(scope="module")
def simulated_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    from cashbook.simulator import SimConfig, simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(out=out, customers=40, months=3, seed=3))
    return {s: [orjson.loads(x) for x in (out / f"{s}.jsonl").read_bytes().splitlines() if x.strip()]
            for s in STREAM_COLUMNS}


BAD_VARIANTS = {
    "float where an integer belongs": (2, {"amount": 100.0}),
    "fractional float": (3, {"fee": 1.5}),
    "bool where an integer belongs": (2, {"net": True}),
    "string where an integer belongs": (1, {"created": "1700000000"}),
    "missing required field": (2, {"amount": None}),
    "integer where a string belongs": (3, {"type": 7}),
    "unknown currency": (2, {"currency": "xyz"}),
    "upper-case currency": (1, {"currency": "USD"}),
    "malformed nested shape": (2, {"fee_details": {1, 2}}),
}


@pytest.mark.parametrize("name", BAD_VARIANTS)
def test_rejected_batches_name_the_same_row_and_reason(name: str) -> None:
    line, change = BAD_VARIANTS[name]
    objs = [_bt(i) for i in range(4)]
    objs[line - 1].update(change)
    want = _error(_slow, "balance_transactions", copy.deepcopy(objs))
    assert want[0] == f"x:{line}"
    assert _error(to_batch, "balance_transactions", copy.deepcopy(objs), _where) == want
    if name != "malformed nested shape":  # a set is not JSON
        assert _error(lines_to_batch, "balance_transactions", _lines(objs), _where) == want


def test_integer_beyond_int64_fails_as_before() -> None:
    objs = [_bt(0), _bt(1, amount=2**63)]
    with pytest.raises(OverflowError):
        _slow("balance_transactions", copy.deepcopy(objs))
    with pytest.raises(OverflowError):
        to_batch("balance_transactions", objs, _where)


def test_first_bad_line_is_reported_whatever_its_fault() -> None:
    lines = _lines([_bt(0), _bt(1, amount="1"), _bt(2)])
    lines[2] = b'{"id": "txn_2"'  # malformed JSON after an invalid object
    where, reason = _error(lines_to_batch, "balance_transactions", lines, _where)
    assert where == "x:2" and "amount" in reason
    lines[1] = orjson.dumps(_bt(1))
    where, reason = _error(lines_to_batch, "balance_transactions", lines, _where)
    assert where == "x:3" and reason.startswith("malformed JSON")


def test_a_line_that_is_not_an_object_is_named() -> None:
    lines = [orjson.dumps(_bt(0)), b"[1, 2]"]
    assert _error(lines_to_batch, "balance_transactions", lines, _where) == ("x:2", "expected a JSON object, got list")


def test_membership_fast_path_and_its_errors() -> None:
    created = {"po_1": 10, "po_2": 20}
    objs = [{"payout": "po_2", "balance_transaction": "txn_b"}, {"payout": "po_1", "balance_transaction": "txn_a"}]
    want = pa.RecordBatch.from_pylist([membership_row(o, "x", created) for o in objs], schema=PAYOUT_MEMBERSHIP_SCHEMA)
    assert membership_lines_to_batch(_lines(objs), _where, created).equals(want)
    objs.append({"payout": "po_9", "balance_transaction": "txn_c"})
    where, reason = _error(membership_lines_to_batch, _lines(objs), _where, created)
    assert where == "x:3" and "po_9" in reason
    objs[2] = {"payout": "po_1", "balance_transaction": 5}
    assert _error(membership_lines_to_batch, _lines(objs), _where, created)[0] == "x:3"


def test_gc_pause_nests_across_threads_and_restores_the_collector() -> None:
    import gc
    import threading

    from cashbook.sources.streams import gc_paused

    assert gc.isenabled()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=other)
    with gc_paused():
        t.start()
        entered.wait(5)
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause is still on
    release.set()
    t.join()
    assert gc.isenabled()


def test_gc_pause_hands_what_it_kept_to_the_oldest_generation() -> None:
    """Survivors of a pause skip the young collections (no walk of millions of objects after an API fetch); a heap
    frozen by someone else (the API's startup heap) stays frozen. In a clean interpreter: the suite may have frozen."""
    code = """
import gc
from cashbook.sources.streams import gc_paused
with gc_paused():
    kept = [{"id": i, "fee_details": [i]} for i in range(1000)]
assert gc.isenabled()
assert not any(o is kept for g in (0, 1) for o in gc.get_objects(generation=g)), "still young"
assert any(o is kept for o in gc.get_objects(generation=2)), "not in the oldest generation"
gc.freeze()
frozen = gc.get_freeze_count()
with gc_paused():
    more = [{"id": i} for i in range(10)]
assert gc.get_freeze_count() >= frozen, "a pause must not unfreeze someone else's heap"
print("ok")
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
