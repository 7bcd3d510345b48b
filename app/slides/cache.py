"""A bounded, thread-safe, per-process LRU of open slides for the tile routes.

Opening a slide costs milliseconds to seconds (DICOM series are scanned, TIFF directories parsed);
a tile costs a few milliseconds. Tile routes run in the threadpool, so several threads may use one
reader at once: an evicted reader is closed only when the last thread using it lets go.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openslide.deepzoom import DeepZoomGenerator

from app.config import get_settings
from app.slides.reader import SlideReader

CacheKey = tuple[int, str]
# Decoded slide tiles kept per open slide for Deep Zoom reads: neighbouring viewer tiles share a slide
# tile, and up to `slide_cache_size` slides stay open, so a few MB each (not the analysis's 160 MB).
VIEWER_TILE_CACHE_BYTES = 8 << 20


@dataclass
class _Entry:
    reader: SlideReader
    users: int = 0
    evicted: bool = False
    deepzooms: dict[tuple[int, int], DeepZoomGenerator] = field(default_factory=dict)

    def release_if_unused(self) -> None:
        if self.evicted and self.users == 0:
            self.reader.close()


class ReaderCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._lock = threading.Lock()
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @contextmanager
    def reader(self, slide_id: int, path: Path, options: Mapping[str, Any] | None) -> Iterator[_Entry]:
        """Borrow the open reader for (slide id, path), opening it on a miss."""
        key = (slide_id, str(path))
        entry = self._acquire(key)
        if entry is None:
            fresh = _Entry(SlideReader(path, options=options, tile_cache_bytes=VIEWER_TILE_CACHE_BYTES))
            with self._lock:
                entry = self._entries.get(key)
                if entry is None:  # we won the race to open it
                    entry = fresh
                    self._entries[key] = entry
                    self._evict_over_capacity()
                else:
                    fresh.evicted = True
                entry.users += 1
            fresh.release_if_unused()
        try:
            yield entry
        finally:
            with self._lock:
                entry.users -= 1
                entry.release_if_unused()

    def deepzoom(self, entry: _Entry, *, tile_size: int, overlap: int) -> DeepZoomGenerator:
        key = (tile_size, overlap)
        dz = entry.deepzooms.get(key)
        if dz is None:
            dz = entry.reader.deepzoom(tile_size=tile_size, overlap=overlap)
            entry.deepzooms[key] = dz  # benign race: two threads may build equal generators
        return dz

    def evict(self, slide_id: int) -> None:
        """Forget (and close when idle) every reader of a slide, e.g. after it was deleted."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == slide_id]:
                entry = self._entries.pop(key)
                entry.evicted = True
                entry.release_if_unused()

    def clear(self) -> None:
        with self._lock:
            for entry in self._entries.values():
                entry.evicted = True
                entry.release_if_unused()
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _acquire(self, key: CacheKey) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            entry.users += 1
            return entry

    def _evict_over_capacity(self) -> None:
        while len(self._entries) > self.capacity:
            _, old = self._entries.popitem(last=False)
            old.evicted = True
            old.release_if_unused()


_cache: ReaderCache | None = None
_cache_lock = threading.Lock()


def reader_cache() -> ReaderCache:
    """The process-wide cache, sized from settings (`GLOMCHECK_SLIDE_CACHE_SIZE`)."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = ReaderCache(get_settings().slide_cache_size)
        return _cache


def reset_reader_cache() -> None:
    global _cache
    with _cache_lock:
        if _cache is not None:
            _cache.clear()
        _cache = None
