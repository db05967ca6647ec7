"""The gate in front of the app: token before body, body cap, no echo, NaN, headers on every
response, the Host/Origin rule; and the server's imports (no torch, no Prefect)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from tests.app.conftest import Server, make_store
from tests.app.test_app import _mine, call

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


def raw(server, head: str, body: bytes = b"", read_timeout: float = 5.0) -> tuple[int, bytes, float]:
    """Send a request by hand (headers, then as much body as the server takes) and time the answer."""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(read_timeout)
        start = time.perf_counter()
        s.sendall(head.encode())
        s.setblocking(False)
        try:
            s.send(body)
        except BlockingIOError:
            pass
        s.setblocking(True)
        s.settimeout(read_timeout)
        data = s.recv(65536)
        elapsed = time.perf_counter() - start
        head_end = data.find(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in data[:head_end].split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
        while len(data) < head_end + 4 + length:
            more = s.recv(65536)
            if not more:
                break
            data += more
    return int(data.split(b" ", 2)[1]), data, elapsed


def test_no_token_is_refused_before_the_body_is_read(app_server):
    server, store, tokens = app_server
    set_id = _mine(server, tokens["alice"])["queue"][0]["set_id"]
    huge = 50 * 1024 * 1024
    head = (f"POST /api/sets/{set_id}/votes HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {huge}\r\n\r\n")
    status, data, elapsed = raw(server, head, b"{" + b" " * (1 << 20))
    assert status == 401 and b"content-security-policy" in data.lower() and elapsed < 2.0
    status, data, _ = raw(server, head.replace("Content-Type", f"Authorization: Bearer {tokens['alice']}\r\nContent-Type"), b"{")
    assert status == 413 and b"16384 bytes" in data
    chunked = (f"POST /api/sets/{set_id}/votes HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer {tokens['alice']}\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    status, _, _ = raw(server, chunked, chunk)
    assert status == 413
    assert not store.votes()


def test_errors_never_echo_the_input_and_nan_is_a_422(app_server):
    server, store, tokens = app_server
    token = tokens["bob"]
    set_id = _mine(server, token)["queue"][0]["set_id"]
    marker = "ECHO-" + "x" * 2000
    for body in ({"labels": {s: marker for s in "1234"}, "seconds": 1}, {"labels": marker, "seconds": 1},
                 {"labels": {s: "Similar" for s in "1234"}, "seconds": marker}):
        status, data, _ = call(server, f"/api/sets/{set_id}/votes", token, "POST", body)
        assert status == 422 and b"ECHO" not in data, data[:200]
    for nan in (b"NaN", b"Infinity", b"1e999"):
        data = b'{"labels": {"1": "Similar", "2": "Similar", "3": "Similar", "4": "Similar"}, "seconds": ' + nan + b"}"
        status, body, _ = raw(server, f"POST /api/sets/{set_id}/votes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                      f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n", data)
        assert status == 422 and b"seconds" in body, body
    status, data, _ = call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": {**{s: "Similar" for s in "123"}, "4": "Great"}, "seconds": 1})
    assert status == 422 and b"slot 4" in data and b"Great" not in data
    assert not store.votes()


def test_every_response_carries_the_security_headers(app_server):
    server, _, tokens = app_server
    token = tokens["alice"]
    set_id = _mine(server, token)["queue"][0]["set_id"]
    labels = {"labels": {s: "Similar" for s in "1234"}, "seconds": 1}
    responses = [
        call(server, "/"), call(server, "/admin"), call(server, "/static/app.js"), call(server, "/static/nothing.js"),
        call(server, "/api/me"), call(server, "/api/me", token), call(server, f"/api/sets/{set_id}/images/original", token),
        call(server, f"/api/sets/{set_id}/votes", token, "POST", labels, headers={"Origin": "http://evil.example"}),  # 403
        call(server, f"/api/sets/{set_id}/votes", token, "POST", labels, headers={"Content-Type": "text/plain"}),  # 415
        call(server, "/api/me", token, headers={"Host": "evil.example"}),  # 400
        call(server, "/api/admin/status"),  # 401
    ]
    assert [r[0] for r in responses] == [200, 200, 200, 404, 401, 200, 200, 403, 415, 400, 401]
    for status, _, headers in responses:
        for h in HEADERS:
            assert headers[h], (status, h)
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_host_and_origin_must_name_this_server(tmp_path):
    store, tokens = make_store(tmp_path, sets=2, annotators=["alice", "bob"], per_set=2)
    with Server(store, allowed_hosts=["annotate.lab.example"]) as server:
        token = tokens["alice"]
        set_id = _mine(server, token)["queue"][0]["set_id"]
        body = {"labels": {s: "Similar" for s in "1234"}, "seconds": 1, "revise": True}  # each accepted name submits again
        url = f"/api/sets/{set_id}/votes"
        rebinding = {"Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
        assert call(server, url, token, "POST", body, headers=rebinding)[0] == 400  # same origin, foreign name
        assert call(server, "/", headers={"Host": "evil.example"})[0] == 400
        named = {"Host": f"annotate.lab.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
        assert call(server, url, token, "POST", body, headers=named)[0] == 403
        assert not store.votes()
        for host in (f"annotate.lab.example:{server.port}", f"localhost:{server.port}", f"127.0.0.1:{server.port}", "[::1]:80"):
            ok = {"Host": host, "Origin": f"http://{host}"}
            assert call(server, url, token, "POST", body, headers=ok)[0] == 200, host


def test_the_server_imports_neither_torch_nor_prefect(tmp_path):
    """What `hggt annotate serve` loads, uvicorn.run aside."""
    store, _ = make_store(tmp_path, sets=1, annotators=["a", "b"], per_set=2)
    code = (
        "import sys, uvicorn; uvicorn.run = lambda *a, **k: None\n"
        "from typer.testing import CliRunner\nfrom hggt.cli.main import app\n"
        f"r = CliRunner().invoke(app, ['annotate', 'serve', '--out', {str(tmp_path)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted({'.'.join(m.split('.')[:2 if m.startswith('hggt.') else 1]) for m in sys.modules}\n"
        "             & {'torch', 'prefect', 'cv2', 'hggt.tasks', 'hggt.flows', 'numpy', 'pyarrow'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')) == []


@pytest.mark.parametrize("path", ["/api/admin/status"])
def test_the_coordinator_token_opens_only_the_read_only_view(app_server, path):
    server, store, tokens = app_server
    admin = store.issue_admin_token()
    assert call(server, path, tokens["alice"])[0] == 401  # an annotator's token is not the coordinator's
    assert call(server, "/api/me", admin)[0] == 401
    status, body, _ = call(server, path, admin)
    assert status == 200 and json.loads(body)["sets"] == 6
    assert call(server, path, admin, "POST", {})[0] == 405
