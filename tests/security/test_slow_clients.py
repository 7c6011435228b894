"""Probe 9: clients that hold the API's resources: an upload that stalls, event streams without end."""

from __future__ import annotations

import gc
import http.client
import socket
import time

from bridge.test_api import multipart
from polling import wait_for


def test_stalled_upload_is_cut_off_and_leaves_nothing(open_bay):
    bay = open_bay(upload_idle_seconds=1)
    body, ctype = multipart({"recipe": "review"}, "slow.mov", b"\0" * 200_000)
    host, port = bay.server.address
    with socket.create_connection((host, port), timeout=20) as sock:
        head = (f"POST /jobs HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\nX-Postbay: 1\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body[:100_000])  # half the file, then silence
        started = time.monotonic()
        answer = b""
        while b"}" not in answer:
            more = sock.recv(4096)
            if not more:
                break
            answer += more
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"upload_idle_seconds" in answer and waited < 15
    inbox = bay.config.data_dir / "inbox"
    assert wait_for(lambda: not any(inbox.glob("*")), timeout=5), list(inbox.glob("*"))  # no temp file kept
    assert bay.ledger.list() == []


def test_event_streams_beyond_the_cap_are_refused(open_bay):
    bay = open_bay(event_clients=2)
    host, port = bay.server.address

    def open_stream() -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/events")
        return conn, conn.getresponse()

    streams = [open_stream() for _ in range(2)]
    assert all(answer.status == 200 for _, answer in streams)
    conn, third = open_stream()
    assert third.status == 503 and third.getheader("Retry-After") == "5"
    assert b"event_clients" in third.read()
    conn.close()
    streams.pop()[0].close()  # one client leaves: its place is free again

    def reopened() -> bool:
        gc.collect()
        conn, answer = open_stream()
        ok = answer.status == 200
        if ok:
            streams.append((conn, answer))
        else:
            conn.close()
        return ok

    assert wait_for(reopened, timeout=10)
    for conn, _ in streams:
        conn.close()
