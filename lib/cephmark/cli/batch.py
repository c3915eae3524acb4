"""The per-image loop shared by the batch commands (``predict``, ``analyze``).

Outputs are checked before any inference (:func:`writable_folder`, ``ResultStream``); each
result is written as it comes; each failure is printed when it happens, and the batch goes
on; SIGINT / SIGTERM end the loop with the results so far kept (``<out>.partial``) and exit
code 128 + signal number, without a traceback.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from cephmark.inference.results import ResultStream

EXIT_FAILURES = 1  # some images failed, the others' results were written


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (``signum``)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupt_handlers() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise :class:`Interrupted` (main thread only); restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(exc, "signum", int(signal.SIGINT))


def writable_folder(path: str | Path, what: str) -> Path:
    """Create ``path`` if needed and prove a file can be written there (ValueError if not)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"{folder}: cannot write {what} here ({exc.strerror or exc})") from exc
    return folder


def failure_message(path: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError):
        text = f"out of memory ({text})"
    return text if str(path) in text else f"{path}: {text}"


def run_batch(outcomes: Iterable[tuple[str, Any]], stream: ResultStream, total: int, command: str,
              on_result: Callable[[str, Any], None] | None = None) -> int:
    """Write each result of ``(path, result or exception)`` to ``stream`` as it comes.

    ``on_result(path, result)`` runs before a result is written (e.g. an overlay); if it
    fails, the image counts as failed and its result is still written. Returns the exit code:
    0, :data:`EXIT_FAILURES`, or 128 + signal number when interrupted.
    """
    failed = 0

    def report(path: str, exc: BaseException) -> None:
        nonlocal failed
        failed += 1
        print(f"cephmark {command}: failed: {failure_message(path, exc)}", file=sys.stderr, flush=True)

    try:
        for path, outcome in outcomes:
            if isinstance(outcome, BaseException):
                report(path, outcome)
                continue
            if on_result is not None:
                try:
                    on_result(path, outcome)
                except Exception as exc:
                    report(path, exc)
            stream.write(outcome)
    except KeyboardInterrupt as exc:
        stream.close(complete=False)
        print(f"\ncephmark {command}: interrupted ({exc or 'SIGINT'}): {stream.count} of {total} "
              f"images written to {stream.location}; {failed} failed", file=sys.stderr, flush=True)
        return exit_code(exc)
    stream.close(complete=True)
    if failed:
        print(f"cephmark {command}: {failed} of {total} images failed", file=sys.stderr)
        return EXIT_FAILURES
    return 0
