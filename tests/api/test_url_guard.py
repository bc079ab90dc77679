"""The webhook URL guard (issue 29, finding 7): an IPv6 address that carries an IPv4 address is
judged by that IPv4 address too, and a URL names only an allowed port (WEBHOOK_ALLOWED_PORTS)."""
import ipaddress

import pytest

from app.events import outbound
from tests.conftest import ENGINES, Api, make_app

PUBLIC = "93.184.215.14"


@pytest.mark.parametrize("address, carried", [
    ("2002:7f00:1::", ["127.0.0.1"]),                                  # 6to4: bits 16 to 48
    ("2002:5db8:d70e:1::1", [PUBLIC]),
    ("64:ff9b::7f00:1", ["127.0.0.1"]),                                # NAT64: the last 32 bits
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", ["65.54.227.120", "127.0.0.1"]),  # Teredo: server, client
    ("::ffff:10.0.0.1", ["10.0.0.1"]),                                 # IPv4-mapped
    ("::a9fe:a9fe", ["169.254.169.254"]),                              # IPv4-compatible
    ("2606:4700::6810:84e5", []), ("127.0.0.1", []),
])
def test_the_ipv4_an_address_carries_is_decoded(address, carried):
    found = outbound.embedded_ipv4(ipaddress.ip_address(address))
    assert sorted(str(v4) for v4 in found) == sorted(carried)


@pytest.mark.parametrize("host", [
    "[2002:7f00:1::]", "[2002:a00:1::]", "[2002:a9fe:a9fe::1]",       # 6to4 of 127.0.0.1, 10.0.0.1, metadata
    "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]",                       # NAT64
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",                          # Teredo, client 127.0.0.1
    "[::ffff:127.0.0.1]", "[::ffff:192.168.1.1]",                      # IPv4-mapped
    "[::7f00:1]", "[::a00:1]",                                         # IPv4-compatible
])
def test_an_address_carrying_a_private_ipv4_is_refused(host):
    with pytest.raises(outbound.UrlNotAllowed, match="loopback, private"):
        outbound.check_url(f"https://{host}/hook")


def test_a_6to4_address_of_a_public_ipv4_passes():
    assert str(outbound.check_url("https://[2002:5db8:d70e:1::1]/hook")[1]) == "2002:5db8:d70e:1::1"


@pytest.mark.parametrize("url, allow_private, configured, allowed", [
    (f"https://{PUBLIC}/hook", False, None, True),
    (f"https://{PUBLIC}:443/hook", False, None, True),
    (f"https://{PUBLIC}:22/hook", False, None, False),
    (f"https://{PUBLIC}:0/hook", False, None, False),
    (f"https://{PUBLIC}:80/hook", False, None, False),
    (f"https://{PUBLIC}:8443/hook", False, "443,8443", True),
    (f"https://{PUBLIC}/hook", False, "8443", False),
    (f"https://{PUBLIC}:8001/hook", False, "8000-8999", True),
    ("http://127.0.0.1/hook", True, None, True),
    ("http://127.0.0.1:80/hook", True, None, True),
    ("http://127.0.0.1:8080/hook", True, None, False),
    ("https://127.0.0.1:8080/hook", True, "8080", True),
])
def test_a_url_names_only_an_allowed_port(url, allow_private, configured, allowed):
    configured = None if configured is None else outbound.parse_ports(configured)
    ports = outbound.allowed_ports(configured, allow_private)
    if allowed:
        outbound.check_url(url, allow_private, ports)
    else:
        with pytest.raises(outbound.UrlNotAllowed, match="port"):
            outbound.check_url(url, allow_private, ports)


@pytest.mark.parametrize("text, ports", [("443", [443]), (" 443 , 8443 ", [443, 8443]),
                                         ("8000-8002,443", [8000, 8001, 8002, 443]), ("1-1", [1])])
def test_allowed_ports_are_read_whole(text, ports):
    assert [port for span in outbound.parse_ports(text) for port in span] == ports


@pytest.mark.parametrize("text", ["", "0", "65536", "9-1", "443,", "443;80", "443-", "-443", "+443",
                                  "\u0664\u0664\u0663", "443\n", "1e3", "0x1bb"])
def test_a_bad_list_of_ports_is_refused(text):
    with pytest.raises(ValueError):
        outbound.parse_ports(text)


def test_a_bad_setting_stops_the_start():
    with pytest.raises(RuntimeError, match="WEBHOOK_ALLOWED_PORTS"):
        make_app(WEBHOOK_ALLOWED_PORTS="443,http")


@pytest.mark.parametrize("engine", ENGINES)
def test_registration_refuses_an_embedded_loopback_and_a_port_not_allowed(engine):
    app = make_app(engine, WEBHOOK_ALLOWED_PORTS=None)
    try:
        api = Api(app.test_client())
        for url in ("https://[2002:7f00:1::]/", f"https://{PUBLIC}:22/", f"https://{PUBLIC}:0/"):
            response = api.client.post("/webhook-endpoints", json={"url": url}, headers=api.operator)
            assert (response.status_code, response.json["code"]) == (422, "webhook_url_not_allowed"), url
        response = api.client.post("/webhook-endpoints", json={"url": f"https://{PUBLIC}/"},
                                   headers=api.operator)
        assert response.status_code == 201
    finally:
        store = app.extensions["storage"]
        if store.engine == "mongodb":
            store._client.drop_database(app.config["MONGO_DB"])
        store.close()
