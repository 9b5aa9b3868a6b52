"""The one HTTP codec (hostreach.engine.http), and every client that uses it fed the same
cases: a truncated chunk, a chunk without its CRLF, a bad size line, an answer over the cap
(issue 21: the two clients had disagreed on each)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import FakeEngine

from hostreach.engine import http, sync
from hostreach.engine.address import parse
from hostreach.engine.aio import EngineStreams
from hostreach.errors import EngineError
from hostreach.probe import collect

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BROKEN = {
    "truncated chunk": b"4\r\n{}",
    "chunk without its CRLF": b"2\r\n{}XX1\r\n]\r\n0\r\n\r\n",
    "size line that is not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "size line with a sign": b"+2\r\n{}\r\n0\r\n\r\n",
    "no last chunk": b"2\r\n{}\r\n",
    "no size line at all": b"",
    "a size over the cap": b"%x\r\n" % (http.MAX_ANSWER + 1) + b"{}",
}
WHOLE = {
    "one chunk": (b"2\r\n{}\r\n0\r\n\r\n", {}),
    "several chunks": (b"1\r\n[\r\n2\r\n1,\r\n2\r\n2]\r\n0\r\n\r\n", [1, 2]),
    "an extension": (b"2;name=value\r\n{}\r\n0\r\n\r\n", {}),
    "trailers": (b"2\r\n{}\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", {}),
    "upper-case hex": (b"A\r\n[1,2,3,40]\r\n0\r\n\r\n", [1, 2, 3, 40]),
}


@pytest.mark.parametrize("body", BROKEN.values(), ids=BROKEN.keys())
def test_the_codec_refuses_a_broken_chunked_body(body: bytes) -> None:
    with pytest.raises(EngineError, match="GET /x"):
        http.dechunk(body, "GET /x")


@pytest.mark.parametrize(("body", "value"), WHOLE.values(), ids=WHOLE.keys())
def test_the_codec_reads_a_whole_chunked_body_and_leaves_what_follows(
    body: bytes, value: object
) -> None:
    data, rest = http.dechunk(body + b"HTTP/1.1 200 OK\r\n", "GET /x")
    assert json.loads(data) == value
    assert rest == b"HTTP/1.1 200 OK\r\n"  # the next answer on a kept-alive stream, whole


def test_the_cap_counts_decoded_bytes() -> None:
    # Many small chunks: the raw stream is larger than the body; the decoded body is the cap.
    chunk = b"%x\r\n" % (1 << 16) + b"a" * (1 << 16) + b"\r\n"
    at_cap = chunk * (http.MAX_ANSWER >> 16) + b"0\r\n\r\n"
    assert len(http.dechunk(at_cap, "GET /x")[0]) == http.MAX_ANSWER
    with pytest.raises(EngineError, match="more than 4 MiB"):
        http.dechunk(chunk * ((http.MAX_ANSWER >> 16) + 1) + b"0\r\n\r\n", "GET /x")


def test_a_status_means_one_thing_in_every_client() -> None:
    with pytest.raises(http.NotFound):
        http.decode_json(404, b'{"message": "no such container"}', "GET /x")
    with pytest.raises(EngineError, match="answered 500: boom"):
        http.decode_json(500, b'{"message": "boom"}', "GET /x")
    assert http.decode_json(201, b'{"Id": "ab"}', "POST /x") == {"Id": "ab"}
    with pytest.raises(EngineError, match="did not answer JSON"):
        http.decode_json(200, b"", "GET /x")  # a GET's answer is never empty
    assert http.decode_json(204, b"", "POST /x", empty_ok=True) is None


def test_an_engines_message_is_one_printable_line() -> None:
    assert http.message(b'{"message": "bad\\nthing\\u001b[2J"}') == "bad"
    assert "\x1b" not in http.message(b'{"message": "x\\u001b[2Jy"}')
    assert http.message(b"\x1b[2J raw").isprintable()


def test_a_request_head_is_built_once_for_both_clients() -> None:
    assert http.request("GET", "/info", http10=True) == (
        b"GET /info HTTP/1.0\r\nHost: docker\r\nUser-Agent: hostreach\r\n\r\n"
    )
    posted = http.request("POST", "/containers/create", body={"a": 1}, connection="close")
    head, _, body = posted.partition(b"\r\n\r\n")
    assert body == b'{"a": 1}'
    assert b"Content-Length: 8" in head
    assert b"Connection: close" in head


# --- every client that uses the codec, fed the same cases through a socket ------------------


@pytest.mark.parametrize("body", BROKEN.values(), ids=BROKEN.keys())
def test_the_sync_client_refuses_a_broken_chunked_answer(
    fake_engine: FakeEngine, body: bytes
) -> None:
    fake_engine.answers["/version"] = CHUNKED + body
    with pytest.raises(EngineError):
        sync.fetch(parse(fake_engine.docker_host), ("/version",), timeout=5)
    # and the probe says so as the engine's fault, with no daemon facts made of half an answer
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False)
    assert facts.daemon is None
    assert [i.reason for i in facts.issues if i.source == "engine"] == ["bad-answer"]


@pytest.mark.parametrize("body", BROKEN.values(), ids=BROKEN.keys())
def test_the_async_client_refuses_a_broken_chunked_answer(
    fake_engine: FakeEngine, body: bytes
) -> None:
    fake_engine.answers["/version"] = CHUNKED + body

    async def call() -> object:
        engine = EngineStreams(parse(fake_engine.docker_host), timeout=5)
        return await engine.call("GET", "/version")

    with pytest.raises(EngineError):
        asyncio.run(call())


@pytest.mark.parametrize(("body", "value"), WHOLE.values(), ids=WHOLE.keys())
def test_both_clients_read_a_whole_chunked_answer_alike(
    fake_engine: FakeEngine, body: bytes, value: object
) -> None:
    fake_engine.answers["/version"] = CHUNKED + body
    found = sync.fetch(parse(fake_engine.docker_host), ("/version",), timeout=5)

    async def call() -> object:
        return await EngineStreams(parse(fake_engine.docker_host), timeout=5).call(
            "GET", "/version"
        )

    assert found["/version"] == asyncio.run(call()) == value


def test_a_404_is_none_for_the_sync_client_and_not_found_for_the_async_one(
    fake_engine: FakeEngine,
) -> None:
    fake_engine.answers["/containers/x/json"] = (
        b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "No such container: x"}'
    )
    address = parse(fake_engine.docker_host)
    assert sync.fetch(address, ("/containers/x/json",), timeout=5) == {"/containers/x/json": None}

    async def call() -> object:
        return await EngineStreams(address, timeout=5).call("GET", "/containers/x/json")

    with pytest.raises(http.NotFound, match="No such container"):
        asyncio.run(call())


def test_the_fake_engine_is_a_unix_socket(fake_engine: FakeEngine) -> None:
    # The control: these tests speak to a real socket, not to a stand-in of the client.
    assert Path(fake_engine.path).is_socket()
    assert sync.fetch(parse(fake_engine.docker_host), ("/version",), timeout=5)["/version"]
