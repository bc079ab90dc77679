"""Talking to the outside: the webhook URL guard, signed POSTs (deadline.py) and e-mail (smtplib).

No Flask here. The guard resolves the host and refuses loopback, private,
link-local, multicast, reserved and unspecified addresses, and IPv6 addresses
that carry one of those as an IPv4 address (6to4, NAT64, Teredo, IPv4-mapped or
-compatible: a relay or translator would deliver to it), at registration and
again before every send; the send then connects to the address it checked (the
URL's host stays in ``Host`` and in TLS SNI and certificate checks), so a DNS
answer that changes between check and connect cannot point us inside. At
registration the URL's port must be one WEBHOOK_ALLOWED_PORTS allows (443, and
80 where http is allowed): a webhook is no way to knock on a host's SSH port.
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import smtplib
import socket
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from app.events import deadline

SECRET_PREFIX = "whsec_"
DEFAULT_PORTS = {"https": 443, "http": 80}
# Networks whose last 32 bits are an IPv4 address that ipaddress does not decode: NAT64's
# well-known prefix (RFC 6052) and the deprecated IPv4-compatible addresses.
_IPV4_IN_LAST_32_BITS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
_PORT_SPAN = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")


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


def parse_ports(text):
    """WEBHOOK_ALLOWED_PORTS ("443,8443", "8000-8999") as a tuple of ranges; ValueError if not."""
    spans = []
    for item in text.split(","):
        found = _PORT_SPAN.fullmatch(item.strip(" "))
        if found is None:
            raise ValueError(f"{item!r} is not a port or a range of ports like 8000-8999")
        low, high = int(found[1]), int(found[2] or found[1])
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"{item!r} is not within 1 to 65535, low to high")
        spans.append(range(low, high + 1))
    return tuple(spans)


def allowed_ports(configured, allow_private):
    """The ports a webhook URL may name: WEBHOOK_ALLOWED_PORTS (parsed), else 443, and 80
    where http is allowed."""
    if configured is not None:
        return configured
    schemes = ("https", "http") if allow_private else ("https",)
    return tuple(range(DEFAULT_PORTS[scheme], DEFAULT_PORTS[scheme] + 1) for scheme in schemes)


def embedded_ipv4(address):
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped (::ffff:0:0/96), IPv4-compatible
    (::/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32: its server, and its
    client, the last 32 bits XOR 0xffffffff)."""
    if address.version == 4:
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in _IPV4_IN_LAST_32_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [carried for carried in found if carried is not None]


def _not_public(address):
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def _refused(address):
    # Judged by what it carries too: how Python classes such IPv6 ranges varies by version.
    return _not_public(address) or any(_not_public(carried) for carried in embedded_ipv4(address))


def check_url(url, allow_private=False, ports=None):
    """The (parts, address) a webhook to ``url`` may connect to; UrlNotAllowed otherwise.

    ``ports`` (``allowed_ports``) are the ports the URL may name; None leaves the port alone
    (the URL's port is fixed when it is registered, where it is checked)."""
    try:
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        raise UrlNotAllowed("the url is not a valid URL") from None
    if parts.scheme not in (("http", "https") if allow_private else ("https",)):
        raise UrlNotAllowed("the url must be https" + (" or http" if allow_private else ""))
    if not parts.hostname or parts.username or parts.password:
        raise UrlNotAllowed("the url must name a host, without user or password")
    if ports is not None and not any(port in span for span in ports):
        raise UrlNotAllowed(f"the url's port {port} is not allowed (WEBHOOK_ALLOWED_PORTS; by default "
                            "443" + (", and 80 for http" if allow_private else "") + ")")
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise UrlNotAllowed(f"the host {parts.hostname!r} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not allow_private and any(_refused(address) for address in addresses):
        raise UrlNotAllowed("the host resolves to a loopback, private, link-local, multicast or "
                            "reserved address, or to one that carries such an IPv4 address")
    return parts, addresses[0]


def post_webhook(client, url, secret, message_id, body, allow_private, ports=None):
    """POST ``body`` signed, to the checked address; returns (status code or None, error text).
    The port is checked again at each delivery: the setting may have changed since registration."""
    try:
        parts, address = check_url(url, allow_private, ports)
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
