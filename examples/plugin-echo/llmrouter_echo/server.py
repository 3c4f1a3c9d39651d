"""A tiny Echo API server: the "remote service" the echo provider talks to.

It stands in for a real provider's API in tests and demos, the way ``llmrouter.testing`` ships a
Together emulator. Standard library only (and llmrouter's fault descriptions); one thread per
connection.

    python -m llmrouter_echo.server --port 8642          # prints its base URL, serves until Ctrl-C

    with EchoServer() as server:                          # in tests: a free port, a background thread
        completion(model="echo/parrot", messages=[...], api_base=server.base_url)

The Echo API (deliberately *not* OpenAI-shaped, so the plugin has real translating to do):

``POST /v1/echo``
    ``{"voice": "parrot", "turns": [{"speaker": "user", "text": "Hi"}], "max_words": 10,
    "repeat": 1, "stream": false}`` (or ``"text": "..."`` instead of ``turns``) answers
    ``{"echo_id", "voice", "created_at", "text", "words_in", "words_out", "ended"}`` where
    ``ended`` is ``"complete"`` or ``"max_words"``. With ``"stream": true`` it sends server-sent
    events: ``{"type": "word", "text": " Hi"}`` per word, then ``{"type": "end", "ended",
    "words_in", "words_out"}``, then ``[END]``.
``GET /v1/voices``
    ``{"voices": [{"name": "parrot", "description": "..."}]}``.
Errors
    an HTTP status with ``{"problem": {"kind": "...", "detail": "..."}}``; inside a stream, an
    event ``{"type": "problem", "status": 503, "problem": {...}}`` and no ``[END]``.

What each voice does: ``parrot`` repeats the last user turn (or the whole ``text``), ``loud``
upper-cases it, ``backwards`` reverses its words. A turn longer than 200 words is refused with
``too_many_words``. For testing error handling, a last user turn of ``!status 429`` (any status)
is answered with that error, and ``!problem`` streams one word and then an in-band problem.

Faults can also be installed from a test, the way llmrouter's own emulators take them, which is
what llmrouter's conformance suite (``llmrouter.testing.conformance``) needs:
``server.add_fault(Fault(status=429, retry_after=2), times=1)`` answers the next request with
that error (``type`` names the problem's kind); ``Fault(cut_after=N)`` closes the connection
after N words of a stream (before any answer, for a request that does not stream);
``Fault(stream_error_after=N)`` streams N words and then a problem event.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from llmrouter.testing.faults import Fault, FaultRule, FaultSpecError

__all__ = ["VOICES", "EchoServer", "main"]

VOICES: dict[str, str] = {
    "parrot": "repeats the last user turn",
    "loud": "repeats it in capitals",
    "backwards": "repeats its words in reverse order",
}
MAX_WORDS_IN = 200

_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    404: "unknown_voice",
    429: "slow_down",
    500: "broken",
    503: "overloaded",
}
_ids = itertools.count(1)


#: The fields of a :class:`~llmrouter.testing.faults.Fault` this server plays.
_FAULT_FIELDS = frozenset(
    {"status", "type", "message", "retry_after", "cut_after", "stream_error_after"}
)


class _Problem(Exception):
    def __init__(
        self, status: int, kind: str, detail: str, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


def _answer(voice: str, source: str, repeat: int) -> list[str]:
    words = source.split()
    if voice == "loud":
        words = [w.upper() for w in words]
    elif voice == "backwards":
        words = words[::-1]
    return words * repeat


def _source(body: dict[str, Any]) -> tuple[str, int]:
    """The text to echo and the number of words the request carried."""
    if isinstance(body.get("text"), str):
        return body["text"], len(body["text"].split())
    turns = body.get("turns")
    if not isinstance(turns, list) or not turns:
        raise _Problem(400, "bad_request", "send 'turns' (a non-empty list) or 'text'")
    words_in = 0
    last_user = ""
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("text"), str):
            raise _Problem(400, "bad_request", f"turns[{i}] needs a 'text' string")
        if turn.get("speaker") not in ("system", "user", "assistant"):
            raise _Problem(
                400, "bad_request", f"turns[{i}].speaker must be system, user or assistant"
            )
        words = len(turn["text"].split())
        if words > MAX_WORDS_IN:
            raise _Problem(
                400, "too_many_words", f"turns[{i}] has {words} words; the limit is {MAX_WORDS_IN}"
            )
        words_in += words
        if turn["speaker"] == "user":
            last_user = turn["text"]
    return last_user, words_in


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection; streams end when it closes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing ---

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", f"req-{next(_ids)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, problem: _Problem) -> None:
        retry_after = problem.retry_after
        if retry_after is None and problem.status == 429:
            retry_after = 1
        headers = None if retry_after is None else {"retry-after": f"{retry_after:g}"}
        body = {"problem": {"kind": problem.kind, "detail": problem.detail}}
        self._json(problem.status, body, headers)

    def _authorised(self) -> bool:
        key = self.server.key
        if key is None:
            return True
        return self.headers.get("authorization", "") == f"Bearer {key}"

    def _record(self, body: Any) -> None:
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": self.path, "body": body})

    # --- endpoints ---

    def _fault(self, fault: Fault | None, *, streams: bool) -> bool:
        """Play the part of ``fault`` that comes before an answer; True when it answered."""
        if fault is None or fault.stream_error_after is not None:
            return False
        if fault.status is not None:
            kind = fault.type or _KINDS.get(fault.status, "broken")
            detail = fault.message or f"a fault asked for {fault.status}"
            self._problem(_Problem(fault.status, kind, detail, fault.retry_after))
            return True
        if fault.cut_after is not None and not streams:
            self.close_connection = True  # no status line at all: the peer sees a cut
            return True
        return False

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorised():
            return self._problem(_Problem(401, "unauthorized", "a valid key is required"))
        if self._fault(self.server.next_fault(), streams=False):
            return None
        if self.path.rstrip("/") != "/v1/voices":
            return self._problem(_Problem(404, "not_found", f"no such endpoint: {self.path}"))
        voices = [{"name": n, "description": d} for n, d in VOICES.items()]
        self._json(200, {"voices": voices})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        self._record(body)
        try:
            if not self._authorised():
                raise _Problem(401, "unauthorized", "a valid key is required")
            fault = self.server.next_fault()
            streams = isinstance(body, dict) and body.get("stream") is True
            if self._fault(fault, streams=streams):
                return None
            if self.path.rstrip("/") != "/v1/echo":
                raise _Problem(404, "not_found", f"no such endpoint: {self.path}")
            if not isinstance(body, dict):
                raise _Problem(400, "bad_request", "the body must be a JSON object")
            voice = body.get("voice")
            if voice not in VOICES:
                raise _Problem(404, "unknown_voice", f"no voice {voice!r}; try {', '.join(VOICES)}")
            source, words_in = _source(body)
            if source.startswith("!status "):
                status = int(source.split()[1])
                raise _Problem(status, _KINDS.get(status, "broken"), f"you asked for {status}")
            max_words = body.get("max_words")
            repeat = body.get("repeat") or 1
            if max_words is not None and (not isinstance(max_words, int) or max_words < 1):
                raise _Problem(400, "bad_request", "max_words must be a positive integer")
            if not isinstance(repeat, int) or not 1 <= repeat <= 5:
                raise _Problem(400, "bad_request", "repeat must be an integer from 1 to 5")
        except _Problem as problem:
            return self._problem(problem)
        words = _answer(voice, source, repeat)
        ended = "complete"
        if max_words is not None and len(words) > max_words:
            words, ended = words[:max_words], "max_words"
        if body.get("stream"):
            return self._stream(words, ended, words_in, fail=source == "!problem", fault=fault)
        self._json(
            200,
            {
                "echo_id": f"echo-{next(_ids)}",
                "voice": voice,
                "created_at": time.time(),
                "text": " ".join(words),
                "words_in": words_in,
                "words_out": len(words),
                "ended": ended,
            },
        )

    def _stream(
        self, words: list[str], ended: str, words_in: int, *, fail: bool, fault: Fault | None
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("x-request-id", f"req-{next(_ids)}")
        self.end_headers()

        def event(data: str) -> None:
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        stop_at = None if fault is None else fault.cut_after
        fail_at = 1 if fail else None if fault is None else fault.stream_error_after
        for i, word in enumerate(words):
            if i in (stop_at, fail_at):
                break
            event(json.dumps({"type": "word", "text": word if i == 0 else " " + word}))
        if stop_at is not None:
            return  # the connection closes here, without the end events
        if fail_at is not None:
            status = 503 if fault is None or fault.status is None else fault.status
            problem = {"kind": _KINDS.get(status, "broken"), "detail": "the echo went quiet"}
            event(json.dumps({"type": "problem", "status": status, "problem": problem}))
            return
        event(
            json.dumps(
                {"type": "end", "ended": ended, "words_in": words_in, "words_out": len(words)}
            )
        )
        event("[END]")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], key: str | None) -> None:
        super().__init__(address, _Handler)
        self.key = key
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.faults: list[FaultRule] = []

    def next_fault(self) -> Fault | None:
        """The fault of the first rule that still has a hit left (the rule is used up)."""
        with self.lock:
            for rule in self.faults:
                if rule.try_consume():
                    if rule.exhausted:
                        self.faults.remove(rule)
                    return rule.fault
        return None


class EchoServer:
    """The Echo API on ``host:port`` (port 0: a free one), in a background thread.

    ``key`` makes it require ``Authorization: Bearer <key>``. ``requests`` records what it
    received (method, path, JSON body), newest last.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, key: str | None = None) -> None:
        self._httpd = _HTTPServer((host, port), key)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._httpd.lock:
            return list(self._httpd.requests)

    def clear(self) -> None:
        with self._httpd.lock:
            self._httpd.requests.clear()

    def add_fault(self, fault: Fault, *, times: int | None = None) -> FaultRule:
        """Answer the next ``times`` requests (every one: ``None``) with ``fault``; see the
        module docstring for the fields played. Any other field is refused, not ignored."""
        unplayed = [
            f.name
            for f in dataclasses.fields(fault)
            if f.name not in _FAULT_FIELDS and getattr(fault, f.name) != f.default
        ]
        if unplayed:
            raise FaultSpecError(f"the Echo server does not play {', '.join(unplayed)}")
        rule = FaultRule(fault, times=times)
        with self._httpd.lock:
            self._httpd.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._httpd.lock:
            self._httpd.faults.clear()

    def start(self) -> EchoServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmrouter_echo.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8642)
    parser.add_argument("--key", default=None, help="require this bearer key")
    args = parser.parse_args(argv)
    server = EchoServer(args.host, args.port, key=args.key)
    print(server.base_url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
