"""The results' exposition kept up to date incrementally: each (site, check)'s lines are
rendered again only when that series changed, and each family is joined from the cached pieces
— so a render costs what changed since the last one, not everything the exporter holds. The
bytes are exactly generate_latest(registry_for(store))'s."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from exporters.collector import add_series, new_families
from exporters.store import Series, Store


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _text(families: list[Metric]) -> bytes:
    return generate_latest(_Families(families))


class Exposition:
    """The store's results as exposition text, one chunk per metric family."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._headers = [_text([f]) for f in new_families(False).values()]  # HELP and TYPE
        self._pieces: dict[tuple[str, str], tuple[int, list[bytes]]] = {}

    def render(self) -> list[bytes]:
        """Render the series that changed; join every family from the pieces."""
        keys = []
        with self.store.reading() as all_series:
            for s in all_series:
                key = (s.site, s.check)
                keys.append(key)
                cached = self._pieces.get(key)
                if cached is None or cached[0] != s.version:
                    self._pieces[key] = (s.version, self._series_pieces(s))
        if len(self._pieces) != len(keys):  # series forgotten by a reload
            wanted = set(keys)
            for key in [k for k in self._pieces if k not in wanted]:
                del self._pieces[key]
        pieces = [self._pieces[k][1] for k in keys]
        return [b"".join([header, *(p[i] for p in pieces if p[i])])
                for i, header in enumerate(self._headers)]

    def _series_pieces(self, s: Series) -> list[bytes]:
        """One series' sample lines, per family (b"" where it has none)."""
        families = new_families(False)
        add_series(families, s, False)
        text = _text(list(families.values()))
        out, pos = [], 0
        for header in self._headers:
            pos += len(header)
            # Label values escape newlines, so "\n# HELP " only ever starts the next family.
            end = text.find(b"\n# HELP ", pos - 1)
            end = len(text) if end < 0 else end + 1
            out.append(text[pos:end])
            pos = end
        return out
