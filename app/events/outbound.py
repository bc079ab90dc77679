"""Talking to the outside: the webhook URL guard, signed POSTs (deadline.py) and e-mail (smtplib).

No Flask here. The guard resolves the host and refuses loopback, private,
link-local, multicast, reserved and unspecified addresses, at registration and
again before every send; the send then connects to the address it checked (the
URL's host stays in ``Host`` and in TLS SNI and certificate checks), so a DNS
answer that changes between check and connect cannot point us inside.
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import smtplib
import socket
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from app.events import deadline

SECRET_PREFIX = "whsec_"


class UrlNotAllowed(ValueError):
    """A webhook URL the guard refuses; the message says why."""


def new_secret():
    """A Standard Webhooks symmetric secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret, message_id, timestamp_s, body):
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` per the Standard Webhooks spec."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp_s}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _refused(address):
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def check_url(url, allow_private=False):
    """The (parts, address) a webhook to ``url`` may connect to; UrlNotAllowed otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlNotAllowed("the url is not a valid URL") from None
    if parts.scheme not in (("http", "https") if allow_private else ("https",)):
        raise UrlNotAllowed("the url must be https" + (" or http" if allow_private else ""))
    if not parts.hostname or parts.username or parts.password:
        raise UrlNotAllowed("the url must name a host, without user or password")
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise UrlNotAllowed(f"the host {parts.hostname!r} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not allow_private and any(_refused(address) for address in addresses):
        raise UrlNotAllowed("the host resolves to a loopback, private, link-local, multicast or "
                            "reserved address")
    return parts, addresses[0]


def post_webhook(client, url, secret, message_id, body, allow_private):
    """POST ``body`` signed, to the checked address; returns (status code or None, error text)."""
    try:
        parts, address = check_url(url, allow_private)
    except UrlNotAllowed as refusal:
        return None, str(refusal)
    timestamp_s = int(time.time())
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = parts._replace(netloc=netloc).geturl()
    headers = {"content-type": "application/json", "host": parts.netloc,
               "webhook-id": message_id, "webhook-timestamp": str(timestamp_s),
               "webhook-signature": sign(secret, message_id, timestamp_s, body)}
    try:
        status_code = client.post(pinned, headers, body, extensions={"sni_hostname": parts.hostname})
    except deadline.TimedOut:
        return None, "timeout"
    except deadline.FAILURES as failure:
        return None, type(failure).__name__
    return status_code, None


def http_client(timeout_s):
    """One client per dispatcher: each attempt ends within ``timeout_s``, connect to the answer's head;
    no redirects (a 3xx is a failure), no proxies from the environment."""
    return deadline.Client(timeout_s)


def body_of(event_json):
    return json.dumps(event_json, separators=(",", ":"), ensure_ascii=False).encode()


def send_mail(smtp_url, sender, message, timeout_s):
    """Send one notice {to, subject, text}; returns an error text or None."""
    parts = urlsplit(smtp_url)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, message["to"], message["subject"]
    mail.set_content(message["text"])
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    try:
        with smtp_class(parts.hostname, parts.port or (465 if parts.scheme == "smtps" else 25),
                        timeout=timeout_s) as smtp:
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as failure:
        return type(failure).__name__
    return None
