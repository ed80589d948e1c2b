"""A loopback fake of the OpenAI chat-completions API, for judge tests and benches.

``FakeJudgeServer`` is a threaded ``http.server`` bound to 127.0.0.1 on a free
port answering ``POST /v1/chat/completions`` with deterministic verdicts:
``{'pred': 'yes', 'score': 4}`` when the predicted answer contains the correct
answer (case-insensitive), else ``{'pred': 'no', 'score': 1}``.

Faults can be programmed two ways:

* a queue consumed by the next requests in arrival order::

      server.enqueue(Fault("429", retry_after=1), Fault("500"), Fault("malformed_body"))

  kinds: ``"429"`` (optional ``retry_after`` seconds), ``"500"``, ``"401"``, ``"400"``,
  ``"malformed_body"`` (HTTP 200, JSON content type, body ``content`` or non-JSON text),
  ``"reply"`` (HTTP 200 whose verdict text is ``content``), ``"slow"`` (extra ``delay``).

* markers inside the *predicted answer*, so behaviour follows the item under
  any concurrency: ``@garbage`` (unparseable reply, always), ``@garbage_once``
  (unparseable until re-asked), ``@float`` (score 4.8), ``@oor`` (score 7),
  ``@prose`` (dict wrapped in prose), ``@json`` (JSON reply), ``@caps`` ('YES'),
  ``@500x2`` / ``@429x2`` (first 2 requests for this item fail), ``@slow`` (+0.2 s).

A judge that answers differently (a second judge, a noisy one) takes ``verdicts=``: a function
of the (question, answer, pred) triple and how many requests this item has had so far (1 for the
first) returning ``(pred, score)``; the markers above still apply. ``noisy_verdicts`` is one:
the n-th request for an item flips the default verdict on a fixed pattern.

``reply_padding=N`` appends N spaces to every verdict (a runaway server); ``latency_s`` longer than
the client's timeout makes a judge that never answers.

Every request is recorded (arrival time, path, Authorization header, body,
the extracted (question, answer, pred) triple, the status sent) so tests can
count requests per item and check that the key was sent. Set ``api_key`` to
require ``Authorization: Bearer <api_key>`` (else 401).

Model lifecycles, as OpenAI's API answers them: ``model_objects`` maps a model id to
the object ``GET /v1/models/<id>`` returns (e.g. with ``shutdown_date``); a model in
``retired`` is answered, on that read and on every chat request, with HTTP 404
``code: model_not_found`` ("The model ... has been deprecated"). Any other
``GET`` is a 404 without a code (what servers without the route answer). The
model reads are recorded in ``model_reads``, apart from ``requests``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple
from urllib.parse import unquote

Triple = Tuple[str, str, str]
#: (question, answer, pred), nth request for the item (1-based) -> (pred "yes"|"no", score)
VerdictFn = Callable[[Triple, int], Tuple[str, int]]

_ITEM_RE = re.compile(
    r"Question: (?P<q>.*?)\nCorrect Answer: (?P<a>.*?)\nPredicted Answer: (?P<p>.*?)\n\n",
    re.DOTALL)
_FAIL_RE = re.compile(r"@(500|429)x(\d+)")


@dataclass
class Fault:
    """One programmed response (see module docstring for kinds)."""

    kind: str
    retry_after: Optional[float] = None
    content: Optional[str] = None
    delay: float = 0.0


@dataclass
class RecordedRequest:
    """What the server saw, and what it answered."""

    t: float                       # time.monotonic() at arrival
    path: str
    authorization: Optional[str]
    body: Optional[Dict[str, Any]]
    item: Optional[Triple]
    n_user_messages: int
    status: int = 0
    headers: Dict[str, str] = field(default_factory=dict)


def chat_completion(model: str, content: str) -> bytes:
    """A minimal ``chat.completion`` reply (fixed usage): what the served-model stand-ins answer."""
    return json.dumps({"id": "x", "object": "chat.completion", "model": model,
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()


def reply_json(handler: BaseHTTPRequestHandler, data: bytes, status: int = 200,
               headers: Optional[Dict[str, str]] = None) -> None:
    """Send ``data`` as a JSON response from a ``BaseHTTPRequestHandler`` (with its length)."""
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}.items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def extract_item(body: Optional[Dict[str, Any]]) -> Tuple[Optional[Triple], int]:
    """(question, answer, pred) from the first user message, and the user-message count."""
    if not isinstance(body, dict):
        return None, 0
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return None, 0
    m = _ITEM_RE.search(str(users[0].get("content", "")))
    return ((m.group("q"), m.group("a"), m.group("p")) if m else None), len(users)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    fake: "FakeJudgeServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up (e.g. after a client-side timeout)."""
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # one small response per request: avoid Nagle/delayed-ACK stalls (~40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self._headers_buffer.append(b"\r\n")  # end_headers() without its flush
        self.wfile.write(b"".join(self._headers_buffer) + body)  # one write per response
        self._headers_buffer = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        fake = self.server.fake
        fake._enter()
        try:
            status, payload, ctype, headers = fake._handle(
                self.path, self.headers.get("Authorization"), body)
        finally:
            fake._leave()
        self._send(status, payload, ctype, headers)

    def do_GET(self) -> None:  # noqa: N802
        status, payload = self.server.fake._model_read(self.path)
        self._send(status, payload)


class FakeJudgeServer:
    """Loopback chat-completions server with programmable faults (see module docs)."""

    def __init__(self, *, latency_s: float = 0.0, model: str = "gpt-3.5-turbo-0613",
                 api_key: Optional[str] = None, verdicts: Optional[VerdictFn] = None,
                 reply_padding: int = 0) -> None:
        self.latency_s = latency_s
        self.verdicts = verdicts
        self._request = threading.local()  # per handler thread: how many requests its item has had
        self.reply_padding = reply_padding  # spaces after every verdict: a runaway server
        self.model = model
        self.api_key = api_key
        self.requests: List[RecordedRequest] = []
        self._faults: Deque[Fault] = deque()
        self._per_item: Counter = Counter()
        self._lock = threading.Lock()
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._ids = 0
        self._in_flight = 0
        self.max_in_flight = 0     # most requests handled at the same time
        self.model_objects: Dict[str, Dict[str, Any]] = {}   # GET /v1/models/<id> -> this object
        self.retired: set = set()                            # models answered with 404 model_not_found
        self.model_reads: List[str] = []                     # paths of the GETs received

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "FakeJudgeServer":
        """Bind to 127.0.0.1 on a free port and serve in a background thread."""
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-judge-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeJudgeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- programming and inspection -------------------------------------
    def enqueue(self, *faults: Fault) -> None:
        """Queue faults for the next requests, in arrival order."""
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        """Forget recorded requests, per-item counters, queued faults and max_in_flight."""
        with self._lock:
            self.max_in_flight = 0
            self.requests.clear()
            self._faults.clear()
            self._per_item.clear()

    def requests_per_item(self) -> Counter:
        """``Counter`` of requests received per (question, answer, pred)."""
        with self._lock:
            return Counter(r.item for r in self.requests if r.item is not None)

    @property
    def n_requests(self) -> int:
        with self._lock:
            return len(self.requests)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    # -- behaviour -------------------------------------------------------
    @staticmethod
    def verdict_for(item: Optional[Triple]) -> Tuple[str, int]:
        """Deterministic verdict: 'yes'/4 if the answer occurs in the prediction, else 'no'/1."""
        if item is None:
            return "no", 0
        _, answer, pred = item
        return ("yes", 4) if answer.strip().lower() in pred.lower() else ("no", 1)

    def _completion(self, content: str, body: Optional[Dict[str, Any]]) -> bytes:
        with self._lock:
            self._ids += 1
            n = self._ids
        prompt_chars = sum(len(str(m.get("content", ""))) for m in (body or {}).get("messages", [])
                           if isinstance(m, dict))
        usage = {"prompt_tokens": prompt_chars // 4 + 7, "completion_tokens": len(content) // 4 + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return json.dumps({
            "id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": usage,
        }).encode("utf-8")

    def _gone(self, model: str) -> bytes:
        return self._error(404, f"The model `{model}` has been deprecated, learn more here: "
                                "https://platform.openai.com/docs/deprecations", "model_not_found")

    def _model_read(self, path: str) -> Tuple[int, bytes]:
        """``GET /v1/models/<id>``: the programmed object, 404 model_not_found for a retired model."""
        with self._lock:
            self.model_reads.append(path)
        prefix = "/v1/models/"
        model = unquote(path.split("?", 1)[0][len(prefix):]) if path.startswith(prefix) else None
        if model in self.retired:
            return 404, self._gone(model)
        if model in self.model_objects:
            return 200, json.dumps({"id": model, "object": "model", **self.model_objects[model]}).encode()
        return 404, b'{"error": {"message": "not found"}}'

    @staticmethod
    def _error(status: int, message: str, code: str) -> bytes:
        return json.dumps({"error": {"message": message, "type": "fake_error", "code": code}}).encode()

    def _handle(self, path: str, authorization: Optional[str], body: Optional[Dict[str, Any]]
                ) -> Tuple[int, bytes, str, Dict[str, str]]:
        item, n_users = extract_item(body)
        rec = RecordedRequest(t=time.monotonic(), path=path, authorization=authorization,
                              body=body, item=item, n_user_messages=n_users)
        with self._lock:
            self.requests.append(rec)
            fault = self._faults.popleft() if self._faults else None
            if item is not None:
                self._per_item[item] += 1
            seen = self._per_item[item] if item is not None else 0
        status, payload, ctype, headers = self._respond(path, authorization, body, item,
                                                        n_users, seen, fault)
        rec.status, rec.headers = status, headers
        return status, payload, ctype, headers

    def _respond(self, path: str, authorization: Optional[str], body: Optional[Dict[str, Any]],
                 item: Optional[Triple], n_users: int, seen: int, fault: Optional[Fault]
                 ) -> Tuple[int, bytes, str, Dict[str, str]]:
        js = "application/json"
        if path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
            return 404, self._error(404, "unknown path", "not_found"), js, {}
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return 401, self._error(401, "invalid credentials", "invalid_api_key"), js, {}
        if isinstance(body, dict) and body.get("model") in self.retired:
            return 404, self._gone(str(body["model"])), js, {}
        pred = item[2] if item else ""
        delay = self.latency_s + (0.2 if "@slow" in pred else 0.0)
        if fault is not None and fault.kind == "slow":
            delay += fault.delay
        if delay > 0:
            time.sleep(delay)
        if fault is not None:
            if fault.kind == "429":
                h = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                return 429, self._error(429, "rate limited", "rate_limit_exceeded"), js, h
            if fault.kind == "500":
                return 500, self._error(500, "server error", "server_error"), js, {}
            if fault.kind == "401":
                return 401, self._error(401, "invalid credentials", "invalid_api_key"), js, {}
            if fault.kind == "400":
                return 400, self._error(400, "bad request", "context_length_exceeded"), js, {}
            if fault.kind == "malformed_body":
                return 200, (fault.content or "<html>this is not json").encode(), js, {}
            if fault.kind == "reply":
                return 200, self._completion(fault.content or "", body), js, {}
        m = _FAIL_RE.search(pred)
        if m and seen <= int(m.group(2)):
            code = int(m.group(1))
            return code, self._error(code, "injected failure", "injected"), js, (
                {"Retry-After": "0"} if code == 429 else {})
        self._request.seen = seen  # this handler thread's request: read by _verdict_text
        return 200, self._completion(self._verdict_text(item, n_users) + " " * self.reply_padding, body), js, {}

    def _verdict_text(self, item: Optional[Triple], n_users: int) -> str:
        verdict, score = (self.verdicts(item, getattr(self._request, "seen", 1))
                          if self.verdicts is not None and item is not None else self.verdict_for(item))
        pred = item[2] if item else ""
        if "@garbage_once" in pred and n_users <= 1:
            return "I think the answer is probably fine."
        if "@garbage" in pred and "@garbage_once" not in pred:
            return "The prediction and the answer are related in some way."
        if "@float" in pred:
            return f"{{'pred': '{verdict}', 'score': 4.8}}"
        if "@oor" in pred:
            return f"{{'pred': '{verdict}', 'score': 7}}"
        if "@prose" in pred:
            return f"Here is my evaluation: {{'pred': '{verdict}', 'score': {score}}}. Hope this helps!"
        if "@json" in pred:
            return json.dumps({"pred": verdict, "score": score})
        if "@caps" in pred:
            return f"{{'pred': '{verdict.upper()}', 'score': {score}}}"
        return f"{{'pred': '{verdict}', 'score': {score}}}"


def noisy_verdicts(item: Triple, seen: int) -> Tuple[str, int]:
    """A judge whose verdicts are samples: the default verdict, flipped on the 2nd request of items
    whose prediction has an even length and on the 3rd of those with a length divisible by 3
    (score 4 for yes, 1 for no)."""
    verdict, _ = FakeJudgeServer.verdict_for(item)
    n = len(item[2])
    flip = (seen == 2 and n % 2 == 0) or (seen == 3 and n % 3 == 0)
    if flip:
        verdict = "no" if verdict == "yes" else "yes"
    return verdict, 4 if verdict == "yes" else 1


try:  # a pytest fixture, importable by any test module: `from judge_server import judge_server`
    import pytest

    @pytest.fixture
    def judge_server() -> Iterator[FakeJudgeServer]:
        """A started ``FakeJudgeServer`` (no latency), stopped after the test."""
        server = FakeJudgeServer().start()
        try:
            yield server
        finally:
            server.stop()
except ImportError:  # pragma: no cover - pytest absent (e.g. bench-only use)
    pass
