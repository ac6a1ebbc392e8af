"""Running an iterator ahead in a thread, so that decoding overlaps detection."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """Runs `items` in a background thread, `depth` ahead. Exceptions are re-raised in the consumer; closing the
    consumer stops the producer. With `depth` 0, `items` itself (a live source hands on only its newest frame, and
    a queue ahead of it would only add lag)."""
    if depth == 0:
        return items
    return _prefetched(items, depth)


def _prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # handed to the consumer thread
            buffer.put((done, exc))

    producer = threading.Thread(target=produce, name="frame-reader", daemon=True)
    producer.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)
