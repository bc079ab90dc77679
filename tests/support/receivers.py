"""Real receivers on 127.0.0.1 for the event tests: an HTTP webhook receiver, an SMTP server."""
import http.server
import select
import socket
import threading
import time

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook, WebhookVerificationError


class WebhookReceiver:
    """An HTTP server that verifies each POST with ``standardwebhooks`` and answers from a script.

    ``answers``: status codes for the first requests, then 200. ``hold``: an Event the first
    request waits for before answering (a receiver slow enough for a dispatcher to die on).
    """

    def __init__(self, answers=(), hold=None, delay_s=0.0):
        self.answers, self.hold, self.delay_s = list(answers), hold, delay_s
        self.secret = None
        self.requests = []  # (webhook-id, verified payload or None, status answered)
        self.in_flight, self.max_in_flight = {}, {}
        self.first_arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.handle(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, request):
        body = request.rfile.read(int(request.headers["Content-Length"]))
        message_id = request.headers.get("webhook-id")
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            payload = None
        with self._lock:
            first = not self.requests and not self.first_arrived.is_set()
            self.first_arrived.set()
            self.in_flight[message_id] = self.in_flight.get(message_id, 0) + 1
            self.max_in_flight[message_id] = max(self.max_in_flight.get(message_id, 0),
                                                 self.in_flight[message_id])
            status = 401 if payload is None else (self.answers.pop(0) if self.answers else 200)
        if first and self.hold is not None:
            self.hold.wait(10)
        time.sleep(self.delay_s)
        with self._lock:
            self.in_flight[message_id] -= 1
            self.requests.append((message_id, payload, status))
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def wait_for(self, predicate, timeout_s=10):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.requests)):
                    return True
            time.sleep(0.01)
        return False

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd on a free loopback port, keeping every message it is sent."""

    def __init__(self):
        self.messages = []
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"

    def close(self):
        self.controller.stop()


def _hung_up(conn):
    """Read what a readable socket has: nothing (or a reset) means the other side is gone."""
    try:
        return not conn.recv(65536)
    except OSError:
        return True


class TricklingReceiver:
    """Answers every request a byte at a time, one every ``gap_s``, and never finishes.

    Each read of the answer is quick, so a per-read timeout never fires: only a deadline
    for the whole exchange ends it. ``tls``: the answer is a TLS record that never ends,
    so the client's handshake trickles instead. ``arrivals`` counts requests, ``in_flight``
    the answers going on; ``close`` (or ``stop_after_s``) ends every trickle.
    """

    HTTP_HEAD = b"HTTP/1.1 200 OK\r\nX-Pad: "
    TLS_HEAD = b"\x16\x03\x03\x40\x00"  # a handshake record of 16 KiB, to come

    def __init__(self, gap_s=0.5, tls=False, stop_after_s=None):
        self.gap_s, self.tls, self.stop_after_s = gap_s, tls, stop_after_s
        self.arrivals = self.in_flight = self.max_in_flight = 0
        self._lock, self._closing = threading.Lock(), threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            request = conn.recv(65536)  # TLS: the client's hello; HTTP: the request, read to its end
            while not self.tls and request and b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            with self._lock:
                self.arrivals += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                self._send_forever(conn)
            finally:
                with self._lock:
                    self.in_flight -= 1

    def _send_forever(self, conn):
        answer = iter(self.TLS_HEAD if self.tls else self.HTTP_HEAD)
        began = time.monotonic()
        while not self._closing.is_set():
            if self.stop_after_s is not None and time.monotonic() - began > self.stop_after_s:
                return
            # Wait the gap, watching for the caller to hang up: in_flight counts only live answers.
            if select.select([conn], [], [], self.gap_s)[0] and _hung_up(conn):
                return
            try:
                conn.sendall(bytes([next(answer, 0 if self.tls else ord("a"))]))
            except OSError:
                return  # the caller gave up

    def wait_for_arrivals(self, count, timeout_s=10):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.arrivals >= count:
                    return True
            time.sleep(0.01)
        return False

    def close(self):
        self._closing.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the other thread
        except OSError:
            pass
        self._listener.close()
