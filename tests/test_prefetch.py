"""Reading ahead of the network (cephmark.inference.prefetch) and its use by the predictor."""
from __future__ import annotations

import threading
import time

import pytest

from cephmark.inference.prefetch import prefetch


def test_results_in_order_with_failures_in_place():
    def fn(i):
        if i == 2:
            raise ValueError("bad item 2")
        return i * 10

    for depth in (0, 1, 3):
        out = list(prefetch(fn, range(5), depth))
        assert [i for i, _ in out] == [0, 1, 2, 3, 4]
        assert [r for i, r in out if i != 2] == [0, 10, 30, 40]
        assert isinstance(out[2][1], ValueError) and "bad item 2" in str(out[2][1])


def test_work_runs_ahead_while_the_consumer_is_busy():
    """While the consumer spends 0.2 s per item (the network), the next items get prepared."""
    prepared_at = {}

    def fn(i):
        prepared_at[i] = time.perf_counter()
        return i

    gen = prefetch(fn, range(4), depth=2)
    first, _ = next(gen)
    t0 = time.perf_counter()
    time.sleep(0.2)
    assert 1 in prepared_at and prepared_at[1] < t0 + 0.2  # made during the consumer's work
    assert [i for i, _ in gen] == [1, 2, 3]


def test_closing_early_stops_the_thread():
    seen = []
    gen = prefetch(lambda i: seen.append(i) or i, iter(range(10_000)), depth=2)
    assert next(gen) == (0, 0)
    gen.close()
    assert not any(t.name == "cephmark-prefetch" for t in threading.enumerate())
    assert len(seen) <= 4  # bounded read-ahead, not the whole input


def test_a_failing_input_iterator_is_raised():
    def items():
        yield 1
        raise OSError("listing failed")

    with pytest.raises(OSError, match="listing failed"):
        list(prefetch(lambda i: i, items(), depth=2))
