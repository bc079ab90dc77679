"""One deadline for a whole webhook attempt (issue 29, finding 1), with threads and under gevent.

A receiver trickles its answer a byte every 0.2 s: every read is quick, so a per-read
timeout never fires. The attempt must still end at WEBHOOK_TIMEOUT_S, recorded as a timeout.
"""
import json
import subprocess
import sys
import time

import pytest

from app.events import outbound
from tests.support.receivers import TricklingReceiver, WebhookReceiver
from tests.api.test_edge import ROOT

DEADLINE_S = 1.0
SLACK_S = 0.5
TRICKLE = {"gap_s": 0.2, "stop_after_s": 8.0}  # a client without a deadline waits the 8 s

IN_GEVENT = """
from gevent import monkey
monkey.patch_all()
import json, sys, time
from app.events import outbound
from tests.support.receivers import TricklingReceiver
receiver = TricklingReceiver(tls=sys.argv[1] == "https", **json.loads(sys.argv[2]))
began = time.monotonic()
answer = outbound.post_webhook(outbound.http_client(float(sys.argv[3])), receiver.url,
                               outbound.new_secret(), "msg_1", b"{}", True)
print(json.dumps({"answer": answer, "seconds": time.monotonic() - began}))
"""


def attempt(url, secret=None, deadline_s=DEADLINE_S):
    began = time.monotonic()
    answer = outbound.post_webhook(outbound.http_client(deadline_s), url, secret or outbound.new_secret(),
                                   "msg_1", b"{}", allow_private=True)
    return answer, time.monotonic() - began


def test_a_trickled_answer_is_cut_at_the_deadline():
    receiver = TricklingReceiver(**TRICKLE)
    try:
        answer, seconds = attempt(receiver.url)
    finally:
        receiver.close()
    assert answer == (None, "timeout")
    assert DEADLINE_S <= seconds < DEADLINE_S + SLACK_S, seconds


# gevent (the server's dispatcher) waits its own way: its TLS socket restarts the wait for
# each piece of a record, so only the watchdog ends a trickled handshake there. (With threads,
# CPython's ssl already bounds a whole handshake by the socket timeout.)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_under_gevent_a_trickled_answer_or_handshake_is_cut_at_the_deadline(scheme):
    finished = subprocess.run([sys.executable, "-c", IN_GEVENT, scheme, json.dumps(TRICKLE), str(DEADLINE_S)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout.splitlines()[-1])
    assert result["answer"] == [None, "timeout"]
    assert DEADLINE_S <= result["seconds"] < DEADLINE_S + SLACK_S, result


def test_a_prompt_answer_is_unchanged():
    receiver = WebhookReceiver(answers=[503])
    receiver.secret = outbound.new_secret()
    try:
        assert attempt(receiver.url, receiver.secret)[0] == (503, None)
        assert attempt(receiver.url, receiver.secret)[0] == (200, None)
    finally:
        receiver.close()
