"""One HTTP exchange, one deadline: connect, TLS, the request and the answer's head all end by it.

httpx's and httpcore's timeouts bound each socket operation, not the exchange: a
receiver that trickles its answer (a byte every 2 s under a 3 s timeout) keeps one
request alive for as long as it likes. Here each exchange has its own connection
pool (no keep-alive: one connection, one exchange), whose network backend gives
every socket operation at most the time left (``Exchange.left``). A watchdog shuts
the socket down when the deadline passes, for the one wait a per-operation limit
misses: gevent's TLS socket restarts the wait for each piece of a record with the
timeout the read began with. ``shutdown()`` wakes a blocked read in a thread and in
a greenlet alike, so the server's dispatcher (gevent) and the console one (threads)
end an exchange at the same moment. The answer's body is never read: only its
status counts, and an unread body cannot hold us.
"""
import os
import socket
import ssl
import threading
import time

import certifi
import httpcore

# The socket timeout past the deadline: small but not 0, which would make the socket
# non-blocking and turn "no time left" into BlockingIOError instead of a timeout.
LAST_WAIT_S = 0.001
FAILURES = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
            httpcore.UnsupportedProtocol)


class TimedOut(Exception):
    """The exchange did not end by its deadline."""


class Exchange:
    """One exchange's deadline, and a duplicate of its connection for the watchdog to cut."""

    def __init__(self, deadline_s):
        self.deadline = time.monotonic() + deadline_s
        self._lock = threading.Lock()
        self._twins = []

    def left(self, timeout_s=None):
        """The time an operation may wait: until the deadline, and within ``timeout_s``."""
        left = self.deadline - time.monotonic()
        return max(left if timeout_s is None else min(left, timeout_s), LAST_WAIT_S)

    def expired(self):
        return time.monotonic() >= self.deadline

    def watch(self, sock):
        # Our own descriptor of the connection: shutting it down ends every wait on the
        # connection, whatever wraps it (a gevent socket, TLS, also mid-handshake), and
        # it cannot be closed and reused under us while the exchange runs.
        twin = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            self._twins.append(twin)

    def cut(self):
        """The watchdog: shut the connection down; a blocked read or write returns at once."""
        with self._lock:
            for twin in self._twins:
                try:
                    twin.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the peer closed it already: nothing left to wake

    def finish(self):
        with self._lock:
            twins, self._twins = self._twins, []
        for twin in twins:
            twin.close()


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write ends by its exchange's deadline."""

    def __init__(self, exchange, stream):
        self._exchange, self._stream = exchange, stream

    def read(self, max_bytes, timeout=None):
        return self._stream.read(max_bytes, self._exchange.left(timeout))

    def write(self, buffer, timeout=None):
        self._stream.write(buffer, self._exchange.left(timeout))

    def close(self):
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        secured = self._stream.start_tls(ssl_context, server_hostname, self._exchange.left(timeout))
        return _Stream(self._exchange, secured)

    def get_extra_info(self, info):
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """Connections for one exchange: the connect itself ends by the deadline too."""

    def __init__(self, exchange):
        self._exchange = exchange
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self._backend.connect_tcp(host, port, self._exchange.left(timeout), local_address,
                                           socket_options)
        try:
            self._exchange.watch(stream.get_extra_info("socket"))
        except OSError as failure:  # no descriptor left for the watchdog: never send unguarded
            stream.close()
            raise httpcore.ConnectError(f"cannot watch the connection: {failure}") from failure
        return _Stream(self._exchange, stream)


class Client:
    """POSTs whose whole exchange lasts at most ``deadline_s``; no redirects, no proxies, no keep-alive."""

    def __init__(self, deadline_s):
        self.deadline_s = deadline_s
        self._ssl = ssl.create_default_context(cafile=certifi.where())  # built once: it costs ms of CPU

    def post(self, url, headers, body, extensions=None):
        """The answer's status code; TimedOut past the deadline, one of FAILURES otherwise."""
        exchange = Exchange(self.deadline_s)
        watchdog = threading.Timer(self.deadline_s, exchange.cut)
        watchdog.daemon = True
        pool = httpcore.ConnectionPool(ssl_context=self._ssl, network_backend=_Backend(exchange),
                                       max_connections=1, max_keepalive_connections=0)
        limits = dict.fromkeys(("connect", "read", "write", "pool"), self.deadline_s)
        watchdog.start()
        try:
            with pool.stream("POST", url, headers=headers, content=body,
                             extensions=dict(extensions or {}, timeout=limits)) as response:
                return response.status
        except FAILURES as failure:
            if exchange.expired():
                raise TimedOut(f"no answer within {self.deadline_s} s") from failure
            raise
        finally:
            watchdog.cancel()
            exchange.finish()
            pool.close()
