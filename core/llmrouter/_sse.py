"""An incremental server-sent-events decoder (pure, no I/O).

Fed raw bytes as they arrive, it returns the ``data`` of each completed event. It follows the
WHATWG rules that matter for LLM APIs: lines end in LF, CRLF or CR; ``data:`` lines of one event
are joined with LF; one leading space after the colon is dropped; comment lines (``:``) and the
``event``/``id``/``retry`` fields are ignored; an event is dispatched on a blank line. An event
still open when the stream ends is returned by :meth:`SSEDecoder.flush` (some servers omit the
final blank line).
"""

from __future__ import annotations

__all__ = ["SSEDecodeError", "SSEDecoder", "SSEError", "SSEEventTooLargeError"]


class SSEError(ValueError):
    """The byte stream cannot be decoded into events.

    ``offset`` is the position of the fault, in bytes from the start of the stream; ``events``
    are the events completed before it (in the same :meth:`SSEDecoder.feed`), which the caller
    still owes its reader, so what a reader sees does not depend on how packets were cut.
    """

    def __init__(self, message: str, *, offset: int, events: list[str]) -> None:
        super().__init__(message)
        self.offset = offset
        self.events = events


class SSEDecodeError(SSEError):
    """A ``data:`` line is not valid UTF-8; ``reason`` is the codec's explanation."""

    def __init__(self, message: str, *, reason: str, offset: int, events: list[str]) -> None:
        super().__init__(message, offset=offset, events=events)
        self.reason = reason


class SSEEventTooLargeError(SSEError):
    """One event (its data lines plus the line still open) grew past ``limit`` bytes."""

    def __init__(
        self, message: str, *, size: int, limit: int, offset: int, events: list[str]
    ) -> None:
        super().__init__(message, offset=offset, events=events)
        self.size = size
        self.limit = limit


class SSEDecoder:
    """Fed raw bytes in any pieces, returns the ``data`` of each completed event.

    Linear in the bytes received, however the network cuts them: the unfinished line is kept as
    a list of pieces and joined once, when its line ends (concatenating on every feed made a
    50 MB line fed in small pieces cost minutes). With ``max_event_bytes``, an event whose data
    plus unfinished line grows past it raises :class:`SSEEventTooLargeError` as soon as it does,
    so memory stays near the limit; a ``data:`` line that is not UTF-8 raises
    :class:`SSEDecodeError` with the stream offset of the first bad byte.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_fed",
        "_pending_cr",
        "_seen",
        "_tail",
        "_tail_size",
        "max_event_bytes",
    )

    def __init__(self, max_event_bytes: int | None = None) -> None:
        #: Pieces of the line not ended yet (never containing a line break).
        self._tail: list[bytes] = []
        self._tail_size = 0
        #: The data lines of the event not dispatched yet, and their size in bytes.
        self._data: list[str] = []
        self._data_size = 0
        self._pending_cr = False
        #: Bytes fed so far: the stream offset of the end of the last chunk.
        self._fed = 0
        #: Whether any event was completed.
        self._seen = False
        self.max_event_bytes = max_event_bytes

    @property
    def partial(self) -> bool:
        """Whether an event is half received (an unfinished line, or data not dispatched)."""
        return bool(self._tail_size or self._data)

    @property
    def seen_event(self) -> bool:
        """Whether at least one event was completed."""
        return self._seen

    def feed(self, chunk: bytes) -> list[str]:
        """Consume ``chunk``; return the data of every event it completed, in order."""
        # The stream offset where the unfinished line (the first line of this feed) starts.
        start = self._fed - self._tail_size
        self._fed += len(chunk)
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                # The previous chunk ended in CR of a CRLF pair: that line is already handled
                # (and no line was left open, so the next one starts after this LF).
                chunk = chunk[1:]
                start += 1
        if b"\r" in chunk:
            return self._feed_cr(chunk, start)
        lines = chunk.split(b"\n")
        last = lines.pop()
        if not lines:  # no line ended: one more piece of the open line
            if last:
                self._extend(last, self._fed - len(last), [])
            return []
        tail = self._tail
        if tail:
            tail.append(lines[0])
            lines[0] = b"".join(tail)
            tail.clear()
            self._tail_size = 0
        events = self._dispatch(lines, None, start)
        if last:
            self._extend(last, self._fed - len(last), events)
        return events

    def _feed_cr(self, chunk: bytes, start: int) -> list[str]:
        """``feed`` for a chunk holding a CR: lines may end in CR, LF or CRLF."""
        tail = self._tail
        if tail:
            tail.append(chunk)
            buf = b"".join(tail)
            tail.clear()
            self._tail_size = 0
        else:
            buf = chunk
        pieces = buf.splitlines(keepends=True)  # bytes: breaks at CR, LF and CRLF only
        last = pieces[-1] if pieces else b""
        if last[-1:] in (b"\n", b"\r"):
            last = b""
        else:
            pieces.pop()
        self._pending_cr = buf[-1:] == b"\r"
        lines = [p[:-2] if p[-2:] == b"\r\n" else p[:-1] for p in pieces]
        events = self._dispatch(lines, [len(p) for p in pieces], start)
        if last:
            self._extend(last, self._fed - len(last), events)
        return events

    def _extend(self, piece: bytes, offset: int, events: list[str]) -> None:
        """Add ``piece`` (no line break in it) to the open line; it starts at ``offset``."""
        self._tail.append(piece)
        size = self._tail_size = self._tail_size + len(piece)
        limit = self.max_event_bytes
        if limit is not None and size + self._data_size > limit:
            raise self._too_large(size + self._data_size, offset + len(piece), events)

    def _dispatch(self, lines: list[bytes], widths: list[int] | None, start: int) -> list[str]:
        """Apply complete ``lines`` (``widths``: their lengths with line breaks, when not
        ``len + 1``; ``start``: the stream offset of the first)."""
        events: list[str] = []
        data = self._data
        limit = self.max_event_bytes
        size = self._data_size
        for line in lines:
            if not line:
                if data:
                    # (most events have one data line: no join)
                    events.append(data[0] if len(data) == 1 else "\n".join(data))
                    data.clear()
                    size = 0
                continue
            if line[:5] == b"data:":
                value = line[6:] if line[5:6] == b" " else line[5:]
                try:
                    data.append(value.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    at = _line_offset(lines, widths, line, start) + len(line) - len(value)
                    raise SSEDecodeError(
                        f"stream byte {at + exc.start} is not valid UTF-8 ({exc.reason})",
                        reason=str(exc.reason),
                        offset=at + exc.start,
                        events=self._dispatched(events, size),
                    ) from None
                if limit is not None:
                    size += len(value)
                    if size > limit:
                        at = _line_offset(lines, widths, line, start) + len(line)
                        self._dispatched(events, size)
                        raise self._too_large(size, at, events)
            elif line == b"data":
                data.append("")
            # comments (":...") and other fields are ignored on purpose
        return self._dispatched(events, size)

    def _dispatched(self, events: list[str], size: int) -> list[str]:
        """Record what one ``_dispatch`` did: the open event's data size, and whether an event
        was completed; returns ``events``."""
        self._data_size = size
        if events:
            self._seen = True
        return events

    def _too_large(self, size: int, offset: int, events: list[str]) -> SSEEventTooLargeError:
        limit = self.max_event_bytes or 0
        return SSEEventTooLargeError(
            f"one event grew past {limit} bytes (at least {size} bytes by stream byte {offset})",
            size=size,
            limit=limit,
            offset=offset,
            events=events,
        )

    def flush(self) -> list[str]:
        """End of stream: return an event left without its closing blank line, if any."""
        events: list[str] = []
        if self._tail:
            events.extend(self.feed(b"\n"))
        if self._data:
            events.append("\n".join(self._data))
            self._data.clear()
            self._data_size = 0
            self._seen = True
        return events


def _line_offset(lines: list[bytes], widths: list[int] | None, line: bytes, start: int) -> int:
    """The stream offset of ``line`` (the object itself, found by identity) in ``lines``.
    Only computed on an error path."""
    index = next(i for i, item in enumerate(lines) if item is line)
    if widths is None:
        return start + sum(len(item) + 1 for item in lines[:index])
    return start + sum(widths[:index])
