"""The SSE decoder, fed the way a network delivers bytes: in arbitrary pieces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmrouter._sse import SSEDecoder

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"a": 1}\n\n'
    b"event: message\r\ndata: line one\r\ndata: line two\r\n\r\n"
    b"data:no-space\r\r"
    b"data: caf\xc3\xa9 \xe2\x9c\x93\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = ['{"a": 1}', "line one\nline two", "no-space", "café ✓", "[DONE]"]


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[str]:
    dec = SSEDecoder()
    out: list[str] = []
    last = 0
    for cut in sorted(set(cuts)):
        out.extend(dec.feed(data[last:cut]))
        last = cut
    out.extend(dec.feed(data[last:]))
    out.extend(dec.flush())
    return out


def test_whole_stream() -> None:
    assert decode_in_pieces(STREAM, []) == EXPECTED


def test_byte_by_byte() -> None:
    assert decode_in_pieces(STREAM, list(range(len(STREAM)))) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split(cuts: list[int]) -> None:
    assert decode_in_pieces(STREAM, cuts) == EXPECTED


def test_final_event_without_blank_line_is_flushed() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: tail") == []
    assert dec.flush() == ["tail"]


def test_empty_data_field_and_no_event_for_lone_blank_lines() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"\n\n\ndata\n\n") == [""]
