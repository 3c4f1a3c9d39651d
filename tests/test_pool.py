"""llmrouter's async connection pool (:mod:`llmrouter._pool`) over real sockets.

Every test talks to a real emulator on 127.0.0.1 and checks both sides: what the client's pool
holds and what the server saw (``accepted_connections``, ``open_connections``). The pool must
keep httpcore's contract: limits, keep-alive, pool timeouts, errors, cancellation, closing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpcore
import httpx
import pytest
import pytest_asyncio

import llmrouter
from llmrouter import _pool
from llmrouter.testing import Fault, TogetherEmulator

KEY = "pool-test-key"
BODY = {
    "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "messages": [{"role": "user", "content": "Say hello"}],
}
HEADERS = {"authorization": "Bearer " + KEY}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[TogetherEmulator, TogetherEmulator]]:
    with TogetherEmulator(record=False) as one, TogetherEmulator(record=False) as two:
        yield one, two


@pytest.fixture
def srv(servers: tuple[TogetherEmulator, TogetherEmulator]) -> TogetherEmulator:
    server = servers[0]
    server.clear_faults()
    _settle(server)
    server.reset_stats()
    return server


@pytest.fixture
def other(servers: tuple[TogetherEmulator, TogetherEmulator]) -> TogetherEmulator:
    server = servers[1]
    _settle(server)
    server.reset_stats()
    return server


def _settle(server: TogetherEmulator, open_connections: int = 0) -> None:
    """Wait (bounded) until the server sees exactly ``open_connections`` connections: closes
    made by a client reach the server's loop a moment later."""
    deadline = time.monotonic() + 5
    while server.stats["open_connections"] != open_connections:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"server holds {server.stats['open_connections']} connections, "
                f"expected {open_connections}"
            )
        time.sleep(0.005)


@pytest_asyncio.fixture
async def make_client() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(**limits: Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            limits=httpx.Limits(**{"max_connections": 10, **limits}), timeout=10.0
        )
        assert _pool.install(client)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def pool_of(client: httpx.AsyncClient) -> _pool.AsyncPool:
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, _pool.AsyncPool)
    return pool


def state(pool: _pool.AsyncPool) -> tuple[int, int, int]:
    """(connections owned, idle, waiters not yet served)."""
    waiting = sum(1 for _, _, waiter in pool._waiters if not waiter.done())
    return len(pool._owned), pool._idle_count, waiting


async def until(pool: _pool.AsyncPool, expected: tuple[int, int, int]) -> None:
    """Wait (bounded) for the pool to reach ``expected`` (see :func:`state`): tasks just created
    have not run yet."""
    deadline = time.monotonic() + 5
    while state(pool) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"pool state {state(pool)}, expected {expected}")
        await asyncio.sleep(0.005)


async def chat(client: httpx.AsyncClient, server: TogetherEmulator, **kw: Any) -> httpx.Response:
    response = await client.post(
        server.base_url + "/chat/completions", json=BODY, headers=HEADERS, **kw
    )
    assert response.status_code == 200, response.text
    assert "deterministic reply" in response.json()["choices"][0]["message"]["content"]
    return response


async def hold(client: httpx.AsyncClient, server: TogetherEmulator) -> httpx.Response:
    """A response whose body is not read yet: it keeps its connection busy until closed."""
    request = client.build_request("POST", server.base_url + "/chat/completions", json=BODY)
    request.headers.update(HEADERS)
    return await client.send(request, stream=True)


# --- where the pool is installed ---------------------------------------------------------


@pytest.mark.asyncio
async def test_router_engines_choose_the_pool() -> None:
    async with llmrouter.AsyncRouter() as default:
        assert isinstance(default.http_client._transport._pool, _pool.AsyncPool)  # type: ignore[attr-defined]
    async with llmrouter.AsyncRouter(engine="httpx") as named:
        assert isinstance(named.http_client._transport._pool, _pool.AsyncPool)  # type: ignore[attr-defined]
    async with llmrouter.AsyncRouter(engine="httpx-stock") as stock:
        assert type(stock.http_client._transport._pool) is httpcore.AsyncConnectionPool  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_install_refuses_what_it_cannot_replace_faithfully() -> None:
    http2 = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(http2=True))
    mocked = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    used = httpx.AsyncClient()
    used._transport._pool._connections.append(object())  # type: ignore[attr-defined]
    for client in (http2, mocked, used):
        assert _pool.install(client) is False
        assert not isinstance(getattr(client._transport, "_pool", None), _pool.AsyncPool)
    used._transport._pool._connections.clear()  # type: ignore[attr-defined]
    for client in (http2, mocked, used):
        await client.aclose()
    with pytest.raises(ValueError, match=r"HTTP/1\.1 only"):
        _pool.AsyncPool(http2=True)


@pytest.mark.asyncio
async def test_settings_are_copied_and_env_proxies_keep_httpx_transports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    limits = httpx.Limits(max_connections=7, max_keepalive_connections=3, keepalive_expiry=4.5)
    client = httpx.AsyncClient(limits=limits)
    stock = client._transport._pool  # type: ignore[attr-defined]
    assert _pool.install(client)
    pool = pool_of(client)
    assert (pool._max_connections, pool._max_keepalive_connections, pool._keepalive_expiry) == (
        7,
        3,
        4.5,
    )
    assert pool._ssl_context is stock._ssl_context
    # The proxy from the environment is a separate httpx transport, left as httpx built it.
    proxies = [t for t in client._mounts.values() if t is not None]
    assert proxies and all(not isinstance(t._pool, _pool.AsyncPool) for t in proxies)  # type: ignore[attr-defined]
    await client.aclose()


# --- reuse, limits, keep-alive -----------------------------------------------------------


@pytest.mark.asyncio
async def test_sequential_requests_reuse_one_connection(
    srv: TogetherEmulator, make_client: Any
) -> None:
    client = make_client()
    for _ in range(20):
        await chat(client, srv)
    assert srv.stats["accepted_connections"] == 1
    assert state(pool_of(client)) == (1, 1, 0)
    assert "1 idle" in repr(pool_of(client))


@pytest.mark.asyncio
async def test_concurrency_never_exceeds_max_connections(
    srv: TogetherEmulator, make_client: Any
) -> None:
    srv.add_fault(Fault(delay=0.02))
    client = make_client(max_connections=3)
    pool = pool_of(client)
    peak = 0
    opened = pool._open

    def counting_open(origin: Any) -> Any:
        nonlocal peak
        connection = opened(origin)
        peak = max(peak, len(pool._owned))
        return connection

    pool._open = counting_open  # type: ignore[method-assign]
    await asyncio.gather(*(chat(client, srv) for _ in range(30)))
    assert peak == 3
    assert srv.stats["accepted_connections"] == 3
    assert srv.stats["total"] == 30
    assert state(pool) == (3, 3, 0)


@pytest.mark.asyncio
async def test_idle_connections_beyond_keepalive_limit_are_closed(
    srv: TogetherEmulator, make_client: Any
) -> None:
    srv.add_fault(Fault(delay=0.05))
    client = make_client(max_connections=8, max_keepalive_connections=2)
    await asyncio.gather(*(chat(client, srv) for _ in range(8)))
    assert srv.stats["accepted_connections"] == 8
    assert state(pool_of(client)) == (2, 2, 0)
    _settle(srv, open_connections=2)  # the other six were really closed


@pytest.mark.asyncio
async def test_expired_idle_connections_are_not_reused(
    srv: TogetherEmulator, make_client: Any
) -> None:
    client = make_client(keepalive_expiry=0.05)
    await chat(client, srv)
    await asyncio.sleep(0.1)
    await chat(client, srv)
    assert srv.stats["accepted_connections"] == 2
    assert state(pool_of(client)) == (1, 1, 0)
    _settle(srv, open_connections=1)


@pytest.mark.asyncio
async def test_connection_closed_by_the_server_is_replaced_not_failed(
    srv: TogetherEmulator, make_client: Any
) -> None:
    client = make_client()
    await chat(client, srv)
    assert srv.close_idle_connections() == 1
    _settle(srv, open_connections=0)
    await chat(client, srv)  # the pool notices the closed socket and opens a new connection
    assert srv.stats["accepted_connections"] == 2
    assert state(pool_of(client)) == (1, 1, 0)


@pytest.mark.asyncio
async def test_partly_read_stream_drops_its_connection(
    srv: TogetherEmulator, make_client: Any
) -> None:
    client = make_client()
    body = {**BODY, "stream": True}
    async with client.stream(
        "POST",
        srv.base_url + "/chat/completions",
        json=body,
        headers={**HEADERS, "x-emulator-tokens": "500"},
    ) as response:
        async for _ in response.aiter_lines():
            break
    # Closed before the end: HTTP/1.1 cannot reuse that connection.
    assert state(pool_of(client)) == (0, 0, 0)
    await chat(client, srv)
    assert srv.stats["accepted_connections"] == 2


# --- waiting -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_waiter_is_handed_the_released_connection(
    srv: TogetherEmulator, make_client: Any
) -> None:
    client = make_client(max_connections=1)
    pool = pool_of(client)
    held = await hold(client, srv)
    waiting = asyncio.create_task(chat(client, srv))
    await until(pool, (1, 0, 1))
    await held.aread()
    await held.aclose()
    await asyncio.wait_for(waiting, 5)
    assert srv.stats["accepted_connections"] == 1
    assert state(pool) == (1, 1, 0)


@pytest.mark.asyncio
async def test_pool_timeout_then_recovery(srv: TogetherEmulator, make_client: Any) -> None:
    client = make_client(max_connections=1)
    held = await hold(client, srv)
    timeout = httpx.Timeout(10.0, pool=0.1)
    with pytest.raises(httpx.PoolTimeout, match="free connection"):
        await client.post(
            srv.base_url + "/chat/completions", json=BODY, headers=HEADERS, timeout=timeout
        )
    await held.aread()
    await held.aclose()
    await chat(client, srv)
    assert srv.stats["accepted_connections"] == 1
    assert state(pool_of(client)) == (1, 1, 0)


@pytest.mark.asyncio
async def test_router_maps_pool_timeout_to_api_timeout(srv: TogetherEmulator) -> None:
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=10.0)
    assert _pool.install(client)
    router = llmrouter.AsyncRouter(http_client=client)
    srv.add_fault(Fault(delay=1.0))
    where = {"api_key": KEY, "api_base": srv.base_url}
    model = "together_ai/" + str(BODY["model"])
    slow = asyncio.create_task(router.completion(model=model, messages=BODY["messages"], **where))
    await until(pool_of(client), (1, 0, 0))  # the slow call holds the only connection
    with pytest.raises(llmrouter.APITimeoutError, match="PoolTimeout") as caught:
        await router.completion(model=model, messages=BODY["messages"], timeout=0.2, **where)
    assert KEY not in str(caught.value)
    assert (await slow).choices[0].message.content
    await router.aclose()
    await client.aclose()


@pytest.mark.asyncio
async def test_cancellation_keeps_the_books_straight(
    srv: TogetherEmulator, make_client: Any
) -> None:
    srv.add_fault(Fault(delay=0.5))
    client = make_client(max_connections=2)
    pool = pool_of(client)
    tasks = [asyncio.create_task(chat(client, srv)) for _ in range(6)]
    await until(pool, (2, 0, 4))
    tasks[0].cancel()  # in flight: its connection is dropped mid-response
    tasks[3].cancel()  # waiting: leaves the queue
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results].count(asyncio.CancelledError) == 2
    assert sum(isinstance(r, httpx.Response) for r in results) == 4
    owned, idle, waiting = state(pool)
    assert owned == idle and owned <= 2 and waiting == 0
    srv.clear_faults()
    await asyncio.gather(*(chat(client, srv) for _ in range(5)))
    assert len(pool._owned) <= 2


@pytest.mark.asyncio
async def test_cancelled_right_after_the_handover_passes_the_connection_on(
    srv: TogetherEmulator, make_client: Any
) -> None:
    client = make_client(max_connections=1)
    pool = pool_of(client)
    held = await hold(client, srv)
    first = asyncio.create_task(chat(client, srv))
    second = asyncio.create_task(chat(client, srv))
    await until(pool, (1, 0, 2))
    await held.aread()
    await held.aclose()  # hands the connection to `first`...
    first.cancel()  # ...which is cancelled before it runs again: `second` must get it
    await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 5)
    assert first.cancelled()
    assert second.result().status_code == 200
    assert srv.stats["accepted_connections"] == 1
    assert state(pool) == (1, 1, 0)


# --- several origins ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_full_pool_replaces_an_idle_connection_to_another_origin(
    srv: TogetherEmulator, other: TogetherEmulator, make_client: Any
) -> None:
    client = make_client(max_connections=1)
    await chat(client, srv)
    await chat(client, other)
    assert state(pool_of(client)) == (1, 1, 0)
    _settle(srv, open_connections=0)  # the idle connection to the first server was closed
    assert other.stats["open_connections"] == 1


@pytest.mark.asyncio
async def test_waiter_for_another_origin_gets_the_slot(
    srv: TogetherEmulator, other: TogetherEmulator, make_client: Any
) -> None:
    client = make_client(max_connections=1)
    held = await hold(client, srv)
    waiting = asyncio.create_task(chat(client, other))
    await until(pool_of(client), (1, 0, 1))
    await held.aread()
    await held.aclose()
    await asyncio.wait_for(waiting, 5)
    assert other.stats["accepted_connections"] == 1
    _settle(srv, open_connections=0)
    assert state(pool_of(client)) == (1, 1, 0)


# --- failures and closing ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_failed_connect_frees_its_slot(srv: TogetherEmulator, make_client: Any) -> None:
    client = make_client(max_connections=1)
    with TogetherEmulator() as gone:
        dead = gone.base_url
    with pytest.raises(httpx.ConnectError):
        await client.post(dead + "/chat/completions", json=BODY, headers=HEADERS)
    assert state(pool_of(client)) == (0, 0, 0)
    await chat(client, srv)
    assert state(pool_of(client)) == (1, 1, 0)


@pytest.mark.asyncio
async def test_closing_the_client_closes_connections_and_fails_waiters(
    srv: TogetherEmulator,
) -> None:
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=10.0)
    assert _pool.install(client)
    pool = pool_of(client)
    held = await hold(client, srv)
    waiting = asyncio.create_task(chat(client, srv))
    await until(pool, (1, 0, 1))
    await client.aclose()
    with pytest.raises(httpx.ConnectError, match="pool was closed"):
        await waiting
    await held.aclose()  # releasing after the close is harmless
    assert state(pool) == (0, 0, 0)
    _settle(srv, open_connections=0)


def test_other_event_loops_use_httpcores_algorithm(srv: TogetherEmulator) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> tuple[int, int]:
        client = httpx.AsyncClient(timeout=10.0)
        assert _pool.install(client)
        for _ in range(3):
            response = await client.post(
                srv.base_url + "/chat/completions", json=BODY, headers=HEADERS
            )
            assert response.status_code == 200
        pool = pool_of(client)
        counts = len(pool._owned), len(pool.connections)
        await client.aclose()
        return counts

    owned, total = trio.run(main)
    assert (owned, total) == (0, 1)  # none in our books, one in httpcore's
    assert srv.stats["accepted_connections"] == 1


# --- through the router ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_router_default_engine_under_concurrency(srv: TogetherEmulator) -> None:
    where = {"api_key": KEY, "api_base": srv.base_url}
    model = "together_ai/" + str(BODY["model"])
    async with llmrouter.AsyncRouter() as router:
        responses = await asyncio.gather(
            *(
                router.completion(model=model, messages=BODY["messages"], **where)
                for _ in range(300)
            )
        )
        pool = router.http_client._transport._pool  # type: ignore[attr-defined]
        owned, idle, waiting = state(pool)
    assert all("deterministic reply" in r.choices[0].message.content for r in responses)
    assert srv.stats["total"] == 300
    assert srv.stats["accepted_connections"] <= 300
    assert owned == idle <= 200 and waiting == 0
    _settle(srv, open_connections=0)  # leaving the router closed every connection


# --- cancellation scopes and other event loops (found in review) -------------------------


@pytest.mark.asyncio
async def test_closing_inside_a_cancelled_scope_still_closes_every_connection(
    srv: TogetherEmulator,
) -> None:
    """An anyio scope that is already cancelled (a FastAPI/Starlette shutdown, ``move_on_after``)
    must not stop the close at the first connection: closes are shielded, as httpcore's are."""
    anyio = pytest.importorskip("anyio")
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=5), timeout=10.0)
    assert _pool.install(client)
    pool = pool_of(client)
    srv.add_fault(Fault(delay=0.05))
    await asyncio.gather(*(chat(client, srv) for _ in range(5)))
    assert state(pool) == (5, 5, 0)
    _settle(srv, open_connections=5)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await client.aclose()
    _settle(srv, open_connections=0)


@pytest.mark.asyncio
async def test_a_response_closed_inside_a_cancelled_scope_keeps_its_connection(
    srv: TogetherEmulator, make_client: Any
) -> None:
    anyio = pytest.importorskip("anyio")
    client = make_client()
    for _ in range(3):
        response = await hold(client, srv)
        async for _part in response.stream:  # type: ignore[union-attr]
            pass  # the body read to its end, the response not closed yet
        with anyio.CancelScope() as scope:
            scope.cancel()
            await response.aclose()
    assert srv.stats["accepted_connections"] == 1  # reused every time, as with httpcore
    assert state(pool_of(client)) == (1, 1, 0)


def test_trio_as_a_guest_on_asyncio_uses_httpcores_algorithm(srv: TogetherEmulator) -> None:
    """Under trio's guest mode an asyncio loop is running too; the pool must still see trio
    (as httpcore does, through sniffio) and not await asyncio futures inside trio tasks."""
    trio = pytest.importorskip("trio")
    srv.add_fault(Fault(delay=0.05))
    results: list[Any] = []

    async def trio_main() -> None:
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=10.0)
        assert _pool.install(client)

        async def one() -> None:
            try:
                response = await client.post(
                    srv.base_url + "/chat/completions", json=BODY, headers=HEADERS
                )
                results.append(response.status_code)
            except BaseException as exc:  # recorded: the assertion below shows it
                results.append(repr(exc))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            nursery.start_soon(one)
        assert len(pool_of(client)._owned) == 0  # none in our books
        await client.aclose()

    async def host() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=done.set_result,
        )
        (await done).unwrap()

    asyncio.run(host())
    assert results == [200, 200]


@pytest.mark.asyncio
async def test_releasing_a_connection_the_pool_no_longer_owns_closes_it() -> None:
    """A connection still connecting when the pool closed was not really closed then (httpcore
    closes nothing before the socket exists); its release afterwards must close it, not ignore
    it and leave the socket open."""

    class Connection:
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    pool = _pool.AsyncPool()
    stray = Connection()
    await pool._release(stray, (b"http", b"127.0.0.1", 1))  # type: ignore[arg-type]
    assert stray.closed == 1
    assert state(pool) == (0, 0, 0)
