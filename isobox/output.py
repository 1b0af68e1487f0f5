"""Bounded output capture: keep the first N bytes of a stream, remember whether more came."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field


@dataclass
class CappedBuffer:
    """Keeps at most `limit` bytes; whatever arrives beyond is dropped and flagged."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, chunk: bytes) -> bytes:
        """Keep what fits of `chunk`; the part kept (for whoever streams it on)."""
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk
        return chunk

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class Utf8Streams:
    """Decodes each stream's bytes as UTF-8 across chunk boundaries (bad bytes replaced,
    as in the final result)."""

    def __init__(self) -> None:
        self._decoders: dict[tuple[str, str], codecs.IncrementalDecoder] = {}

    def decode(self, stage: str, stream: str, data: bytes) -> str:
        decoder = self._decoders.setdefault(
            (stage, stream), codecs.getincrementaldecoder("utf-8")(errors="replace")
        )
        return decoder.decode(data)

    def flush(self) -> list[tuple[str, str, str]]:
        ends = [(key, decoder.decode(b"", final=True)) for key, decoder in self._decoders.items()]
        return [(stage, stream, rest) for (stage, stream), rest in ends if rest]
