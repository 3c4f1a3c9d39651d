"""An incremental server-sent-events decoder (pure, no I/O).

Fed raw bytes as they arrive, it returns the ``data`` of each completed event. It follows the
WHATWG rules that matter for LLM APIs: lines end in LF, CRLF or CR; ``data:`` lines of one event
are joined with LF; one leading space after the colon is dropped; comment lines (``:``) and the
``event``/``id``/``retry`` fields are ignored; an event is dispatched on a blank line. An event
still open when the stream ends is returned by :meth:`SSEDecoder.flush` (some servers omit the
final blank line).
"""

from __future__ import annotations

__all__ = ["SSEDecoder"]


class SSEDecoder:
    __slots__ = ("_buf", "_data", "_pending_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        """Consume ``chunk``; return the data of every event it completed, in order."""
        if self._pending_cr and chunk.startswith(b"\n"):
            # The previous chunk ended in CR of a CRLF pair: that line is already handled.
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith(b"\r")
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        events: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append("\n".join(data))
                    data.clear()
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                if value.startswith(b" "):
                    value = value[1:]
                data.append(value.decode("utf-8"))
            elif line == b"data":
                data.append("")
            # comments (":...") and other fields are ignored on purpose
        return events

    def flush(self) -> list[str]:
        """End of stream: return an event left without its closing blank line, if any."""
        events: list[str] = []
        if self._buf:
            events.extend(self.feed(b"\n"))
        if self._data:
            events.append("\n".join(self._data))
            self._data.clear()
        return events
