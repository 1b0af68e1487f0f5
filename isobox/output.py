"""Bounded output capture: keep the first N bytes of a stream, remember whether more came."""

from __future__ import annotations

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
