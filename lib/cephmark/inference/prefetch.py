"""Reading and preprocessing ahead of the network: a background thread fills a bounded queue.

While the network runs on image k (all cores, in native code that releases the GIL), the
thread decodes and warps images k+1 .. k+depth, so a batch costs about its forward passes.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


def _call(fn: Callable[[T], R], item: T) -> R | Exception:
    try:
        return fn(item)
    except Exception as exc:  # this item's failure: handed to the consumer, the rest go on
        return exc


def prefetch(fn: Callable[[T], R], items: Iterable[T], depth: int = 2) -> Iterator[tuple[T, R | Exception]]:
    """``(item, fn(item))`` in order, ``fn`` run up to ``depth`` items ahead in a thread;
    an exception raised by ``fn`` is yielded in place of its result. ``depth <= 0``: no thread.
    Closing the generator early stops the thread."""
    if depth <= 0:
        for item in items:
            yield item, _call(fn, item)
        return
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, _call(fn, item))):
                    return
        except BaseException as exc:  # iterating ``items`` failed: re-raised in the consumer
            put((_DONE, exc))
            return
        put((_DONE, None))

    worker = threading.Thread(target=work, name="cephmark-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, result = slots.get()
            if item is _DONE:
                if result is not None:
                    raise result
                return
            yield item, result
    finally:
        stop.set()
        worker.join()
