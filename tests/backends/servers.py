"""Loopback servers for the API backend tests (all bind 127.0.0.1).

``FaultServer`` is a tiny OpenAI-compatible HTTP server (stdlib ``http.server`` in a thread)
that counts requests at the wire and answers each one from a plan of faults::

    server.plan("429", "500", "ok")   # the next three requests, then "ok" forever

Faults: ``ok`` (echoes the last message, or answers ``positive`` with top logprobs when they
are asked for), ``slow`` (``ok`` after ``slow_seconds``), ``429`` (no Retry-After),
``429-retry-after`` (Retry-After: ``retry_after``), any status code as text (``500``, ``503``,
``401`` ...), ``ctx400`` (context length exceeded), ``hang`` (no answer for ``hang_seconds``),
``reset`` (TCP RST), ``badjson``, ``nochoices``, ``nologprobs``, ``propose`` (``ok``, but a chat
generation gets a new instruction each time instead of the echo: a proposer that writes usable
text), ``leak401`` (a hostile 401
whose body echoes the Authorization header, to prove error messages are scrubbed), ``echokey``
(``ok`` with the request's Authorization header echoed in a response header, which the SDKs'
loggers print at DEBUG).

``LlamaServer`` runs the real ``python -m llama_cpp.server`` on a free port. It uses one thread
by default: on an oversubscribed machine llama.cpp's spinning worker threads made a request
10-30x slower with 2 threads than with 1 (measured here while other jobs shared the 2 cores).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DRAFTS = itertools.count()
TOP = [("positive", -0.4), ("Positive", -1.9), ("negative", -1.6), ("The", -2.5), ("neg", -4.0)]


def set_plan(url: str, *faults: str, then: str = "ok") -> None:
    """Set a FaultServer's plan from another process (``url`` is the server's ``/v1`` url)."""
    body = json.dumps({"faults": list(faults), "then": then}).encode()
    root = url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(root + "/_plan", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chat_body(request: dict, logprobs: bool = True) -> dict:
    """A valid chat completion echoing the last message (its words counted as completion tokens,
    so a generation looks like one); with top logprobs when asked."""
    echo = (request.get("messages") or [{"content": ""}])[-1].get("content", "")
    content = "positive" if request.get("logprobs") else echo
    choice: dict = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    if request.get("logprobs") and logprobs:
        top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in TOP]
        choice["logprobs"] = {"content": [{"token": "positive", "logprob": -0.4, "bytes": None, "top_logprobs": top}]}
    completion = max(1, len(str(content).split()))
    usage = {"prompt_tokens": 11, "completion_tokens": completion, "total_tokens": 11 + completion}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": request.get("model", "m"),
            "choices": [choice], "usage": usage}


def text_body(request: dict, logprobs: bool = True) -> dict:
    choice: dict = {"index": 0, "text": " positive", "finish_reason": "length", "logprobs": None}
    if request.get("logprobs") and logprobs:
        choice["logprobs"] = {"tokens": [" positive"], "token_logprobs": [-0.4],
                              "top_logprobs": [{" " + t: lp for t, lp in TOP}], "text_offset": [0]}
    usage = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    return {"id": "x", "object": "text_completion", "created": 0, "model": request.get("model", "m"),
            "choices": [choice], "usage": usage}


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/_plan":  # a control call from another process: not counted
            self.server.plan(*request.get("faults", ()), then=request.get("then", "ok"), keep_log=True)
            self._send(200, {"planned": request})
            return
        fault, plan = self.server.take(self.path, dict(self.headers), request)
        try:
            self._answer(fault, request)
        finally:
            self.server.leave(plan)

    def _answer(self, fault: str, request: dict) -> None:
        handler = getattr(self, "_" + fault.replace("-", "_"), None)
        if handler is not None and not fault.isdigit():
            handler(request)
        elif fault.isdigit():
            self._send(int(fault), {"error": {"message": f"injected {fault}", "type": "injected"}})
        else:
            raise ValueError(f"unknown fault {fault!r}")

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _ok(self, request: dict) -> None:
        self._send(200, (text_body if self.path.endswith("/completions") and "prompt" in request else chat_body)(request))

    def _propose(self, request: dict) -> None:
        if request.get("logprobs") or "messages" not in request:
            self._ok(request)
            return
        body = chat_body(request)
        body["choices"][0]["message"]["content"] = f"Read the review, then answer with its label (draft {next(DRAFTS)})."
        self._send(200, body)

    def _slow(self, request: dict) -> None:
        time.sleep(self.server.slow_seconds)
        self._ok(request)

    def _nologprobs(self, request: dict) -> None:
        self._send(200, chat_body(request, logprobs=False))

    def _nochoices(self, request: dict) -> None:
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []})

    def _badjson(self, request: dict) -> None:
        self._send(200, None, raw=b'{"id": "x", "choices": [{"message": ')

    def _429_retry_after(self, request: dict) -> None:
        self._send(429, {"error": {"message": "slow down"}}, {"retry-after": str(self.server.retry_after)})

    def _ctx400(self, request: dict) -> None:
        message = "This model's maximum context length is 2048 tokens; your messages resulted in 9000 tokens."
        self._send(400, {"error": {"message": message, "code": "context_length_exceeded"}})

    def _echokey(self, request: dict) -> None:
        body = (text_body if self.path.endswith("/completions") and "prompt" in request else chat_body)(request)
        self._send(200, body, {"x-echo-authorization": self.headers.get("authorization", "")})

    def _leak401(self, request: dict) -> None:
        echoed = f"Incorrect API key provided: {self.headers.get('authorization', '')}"
        self._send(401, {"error": {"message": echoed, "type": "invalid_request_error"}})

    def _hang(self, request: dict) -> None:
        self.server.stopping.wait(self.server.hang_seconds)
        self.close_connection = True

    def _reset(self, request: dict) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class FaultServer(ThreadingHTTPServer):
    """An OpenAI-compatible loopback server whose answers follow a plan of faults."""

    daemon_threads = True

    def __init__(self, hang_seconds: float = 10.0, retry_after: float = 0.05, slow_seconds: float = 0.1) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hang_seconds = hang_seconds
        self.slow_seconds = slow_seconds
        self.in_flight = 0  # requests of the current plan being answered (stale hangs excluded)
        self.peak_in_flight = 0
        self.generation = 0
        self.retry_after = retry_after
        self.stopping = threading.Event()
        self.hits = 0
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._plan: deque[str] = deque()
        self._default = "ok"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def plan(self, *faults: str, then: str = "ok", keep_log: bool = False) -> FaultServer:
        """Answer the next requests with ``faults``, then always with ``then``; resets the count.

        Other processes can set the plan with ``POST /_plan {"faults": [...], "then": "ok"}``.
        """
        with self._lock:
            self._plan = deque(faults)
            self._default = then
            self.hits = 0
            self.generation += 1
            self.in_flight = self.peak_in_flight = 0
            if not keep_log:
                self.requests.clear()
                self.headers.clear()
        return self

    def take(self, path: str, headers: dict, request: dict) -> tuple[str, int]:
        with self._lock:
            self.hits += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.requests.append({"path": path, **request})
            self.headers.append(headers)
            return (self._plan.popleft() if self._plan else self._default), self.generation

    def leave(self, generation: int) -> None:
        with self._lock:
            if generation == self.generation:
                self.in_flight -= 1

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class LlamaServer:
    """``python -m llama_cpp.server`` serving a GGUF on 127.0.0.1 (a real OpenAI-compatible server)."""

    def __init__(self, model: Path, *, alias: str = "smollm2", log_path: Path | None = None, threads: int = 1) -> None:
        self.port = free_port()
        self.alias = alias
        self.log_path = log_path
        command = [
            # llama_cpp.server, with the model loaded the way the in-process backend loads it (no AMX buffers
            # where they crash: promptlift.backends.llamacpp_cpu)
            sys.executable, "-m", "promptlift.backends.llamacpp_cpu", "--model", str(model), "--model_alias", alias,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
            "--n_threads", str(threads), "--n_threads_batch", str(threads), "--verbose", "False",
        ]
        out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_ready(self, timeout: float = 120.0) -> LlamaServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=1) as response:
                    if response.status == 200:
                        return self._warm_up()
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer on {self.url} within {timeout} s")

    def _warm_up(self) -> LlamaServer:
        """One tiny chat call, so the first test does not pay the server's first-request costs."""
        body = json.dumps({"model": self.alias, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
        request = urllib.request.Request(
            self.url + "/chat/completions", data=body.encode(), headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
