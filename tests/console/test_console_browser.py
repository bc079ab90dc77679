"""The console end to end in a real headless Chromium (Debian's `chromium`, driven by Playwright
with executable_path; `make browser` installs it), against the API served by gunicorn as `make run`
serves it on the embedded engine, with the dispatcher as a thread and the manual payout provider.

One walk: sign in, find a client by email, deposit, freeze the wallet (a transfer out is refused,
the wallet unchanged), unfreeze it, find transfers by the search filters, settle a manual
withdrawal, retry a failed webhook delivery, read the admin log, sign out. Every page is saved as
a screenshot under the test's tmp_path, checked at a phone's width (nothing wider than the
screen), and any console error or page error fails it.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-operator-token"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
# Set to a path (docs/console.png) to save the README's screenshot from this run.
DOCS_SCREENSHOT = os.environ.get("CONSOLE_DOCS_SCREENSHOT")


def chromium_path():
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def need_browser():
    """Playwright and Debian's chromium, or a skip saying how to get them (a failure in CI)."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (requirements.txt)")
    if not os.access(chromium_path(), os.X_OK):
        missing.append(f"Chromium at {chromium_path()} (`make browser` installs Debian's chromium)")
    if missing:
        message = "no browser test without " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """gunicorn as `make run` starts it, on a free loopback port: its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "SECRET_KEY")}
    env.update(HOST="127.0.0.1", PORT=str(port), OPERATOR_TOKEN=TOKEN, SECRET_KEY="browser-secret",
               SWEEPER_THREAD="1", EVENTS_DISPATCHER_THREAD="1", DISPATCH_INTERVAL_S="0.1",
               WITHDRAWAL_PROVIDER="manual", WEBHOOK_ALLOW_PRIVATE="1", WEBHOOK_ALLOWED_PORTS="1-65535",
               RETRY_FOR_S="0", PASSWORD_HASH_METHOD="scrypt:1024:8:1", LOG_LEVEL="WARNING")
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config",
                                    "gunicorn.conf.py", "app:create_app()"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not healthy(base):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def healthy(base):
    try:
        return httpx.get(base + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def until(check, timeout_s=15, every_s=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every_s)
    return check()


class Walk:
    """A page and what it saw: each step's screenshot (numbered), console errors, page errors."""

    def __init__(self, page, folder):
        self.page, self.folder, self.shots, self.errors = page, folder, [], []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def shot(self, name):
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        assert not self.errors, self.errors


def fits_a_phone(browser, base, cookies, paths, folder):
    """Each page at 390 px wide: nothing sticks out sideways (tables scroll inside their box)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    context.add_cookies(cookies)
    page = context.new_page()
    walk = Walk(page, folder)
    for path in paths:
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        walk.shot("phone-" + path.strip("/").replace("/", "-").split("?")[0] or "phone-overview")
        assert overflow <= 0, f"{path} is {overflow} px wider than a phone"
    context.close()


def test_an_operator_walks_through_the_console(server, tmp_path):
    need_browser()
    from playwright.sync_api import expect, sync_playwright
    receiver = WebhookReceiver(answers=[500])  # the first event's one attempt fails (RETRY_FOR_S 0)
    try:
        api = httpx.Client(base_url=server, timeout=10)
        operator = {"Authorization": f"Bearer {TOKEN}"}
        hook = api.post("/webhook-endpoints", json={"url": receiver.url}, headers=operator).json()
        receiver.secret = hook["secret"]
        ada = api.post("/clients", json={"email": "ada@example.com", "name": "Ada Lovelace",
                                         "password": "correct horse"}).json()
        ada_wallet = ada["wallet"]["id"]
        bob_wallet = api.post("/clients", json={"email": "bob@example.com", "name": "Bob",
                                                "password": "correct horse"}).json()["wallet"]["id"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
            try:
                context = browser.new_context(viewport=DESKTOP)
                walk = Walk(context.new_page(), tmp_path)
                page = walk.page

                # Sign in: a wrong secret first, refused without a hint; then the operator token.
                page.goto(server + "/console/")
                expect(page).to_have_url(server + "/console/sign-in")
                walk.shot("sign-in")
                page.fill("input[name=secret]", "not the token")
                page.click("button:text('Sign in')")
                expect(page.locator(".error")).to_have_text("That secret does not open the console.")
                # The refusal is a 401, which Chromium logs: the one console error this walk expects.
                assert walk.errors == ["Failed to load resource: the server responded with a status of "
                                       "401 (UNAUTHORIZED)"], walk.errors
                walk.errors.clear()
                page.fill("input[name=secret]", TOKEN)
                page.click("button:text('Sign in')")
                expect(page).to_have_url(server + "/console/")
                expect(page.locator("#audit-verdict")).to_have_text("ok")
                walk.shot("overview")

                # Find Ada by email; open her wallet.
                page.fill("header input[name=q]", "ADA@example.com")
                page.press("header input[name=q]", "Enter")
                expect(page.locator("#found")).to_contain_text("Ada Lovelace")
                walk.shot("search")
                page.click(f"#found a:text('{ada_wallet}')")
                expect(page.locator("#wallet-balance")).to_have_text("0.00")

                # Deposit 100.00, the button clicked twice: deposited once.
                page.fill("#deposit-form input[name=amount]", "100.00")
                page.fill("#deposit-form input[name=details]", "opening <b>balance</b>")
                page.dblclick("#deposit-form button")
                expect(page.locator(".notice")).to_contain_text("Deposit posted")
                expect(page.locator("#wallet-balance")).to_have_text("100.00")
                expect(page.locator("#journal")).to_contain_text("opening <b>balance</b>")
                walk.shot("wallet")
                assert api.get(f"/wallets/{ada_wallet}", headers=operator).json()["balance"] == "100.00"

                # Freeze the wallet with a reason; Ada's transfer out is refused, nothing moves.
                page.fill("#freeze-form input[name=reason]", "KYC review <i>pending</i>")
                page.click("#freeze-form button")
                expect(page.locator(".notice")).to_have_text("Wallet frozen: no money leaves it.")
                expect(page.locator("#wallet-status")).to_have_text("frozen")
                expect(page.locator("#wallet-status-reason")).to_have_text("KYC review <i>pending</i>")
                token = api.post("/auth/token", json={"email": "ada@example.com",
                                                      "password": "correct horse"}).json()["access_token"]
                ada_headers = {"Authorization": f"Bearer {token}"}
                refused = api.post("/transfers", headers=ada_headers, json={
                    "from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "10.00"})
                assert (refused.status_code, refused.json()["code"]) == (422, "wallet_frozen")
                page.reload()
                expect(page.locator("#wallet-balance")).to_have_text("100.00")
                expect(page.locator("#journal tr")).to_have_count(2)  # the header and the deposit
                walk.shot("wallet-frozen")
                page.click("#unfreeze-form button")
                expect(page.locator("#wallet-status")).to_have_text("active")
                paid = api.post("/transfers", headers=ada_headers, json={
                    "from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "10.00"})
                assert paid.status_code == 201, paid.json()

                # Transfers by the search filters: Ada's transfers of at least 5.00.
                page.click("nav a:text('Search')")
                page.fill("#transfer-search input[name=wallet_id]", ada_wallet)
                page.select_option("#transfer-search select[name=type]", "transfer")
                page.fill("#transfer-search input[name=min_amount]", "5.00")
                page.click("#transfer-search button")
                expect(page.locator("#transfers")).to_contain_text(paid.json()["id"])
                expect(page.locator("#transfers tr")).to_have_count(2)
                walk.shot("search-transfers")

                # Ada withdraws 25.00; the dispatcher hands it to the manual provider; settle it.
                withdrawal = api.post("/withdrawals", headers=ada_headers, json={
                    "wallet_id": ada_wallet, "amount": "25.00",
                    "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}).json()
                assert until(lambda: api.get(f"/withdrawals/{withdrawal['id']}", headers=operator)
                             .json()["status"] == "processing")
                page.click("nav a:text('Withdrawals')")
                card = page.locator(f"#wd-{withdrawal['id']}")
                expect(card).to_contain_text("25.00")
                walk.shot("withdrawals")
                card.locator("input[name=provider_reference]").fill("BANK-2026-0042")
                card.locator("button:text('Succeeded')").click()
                expect(page.locator(".notice")).to_have_text("Withdrawal settled.")
                expect(page.locator(f"#wd-{withdrawal['id']}")).to_have_count(0)
                settled = api.get(f"/withdrawals/{withdrawal['id']}", headers=operator).json()
                assert (settled["status"], settled["provider_reference"]) == ("succeeded", "BANK-2026-0042")

                # The first event's webhook failed (500, and RETRY_FOR_S 0): retry it, delivered.
                assert receiver.wait_for(lambda seen: any(status == 500 for _, _, status in seen))
                failed_id = next(message_id for message_id, _, status in receiver.requests if status == 500)
                listing = f"/webhook-endpoints/{hook['id']}/deliveries"
                assert until(lambda: [d for d in api.get(listing, headers=operator).json()["data"]
                                      if d["status"] == "failed"])
                page.click("nav a:text('Deliveries')")
                expect(page.locator("main")).to_contain_text(receiver.url)
                rows = page.locator("tr[id^=dlv-]")
                expect(rows).to_have_count(1)
                walk.shot("deliveries")
                rows.locator("button:text('Retry now')").click()
                expect(page.locator(".notice")).to_contain_text("Delivery due again")
                assert receiver.wait_for(lambda seen: any(
                    message_id == failed_id and status == 200 for message_id, _, status in seen))
                page.click("nav a:text('Overview')")
                expect(page.locator("#count-failed-deliveries")).to_have_text("0")
                expect(page.locator("#count-manual-withdrawals")).to_have_text("0")
                walk.shot("overview-after")

                # The admin log: every action above, newest first, by the operator.
                page.click("nav a:text('Admin log')")
                actions = page.locator("#admin-log td.action").all_text_contents()
                assert actions[:5] == ["delivery.retried", "withdrawal.settled", "wallet.unfrozen",
                                       "wallet.frozen", "deposit.created"], actions
                actors = page.locator("#admin-log td.actor").all_text_contents()[:5]
                assert set(actors) == {"platform:operator"}, actors
                walk.shot("admin-log")
                if DOCS_SCREENSHOT:
                    page.goto(f"{server}/console/wallets/{ada_wallet}")
                    page.screenshot(path=DOCS_SCREENSHOT, full_page=False)

                cookies = context.cookies()
                fits_a_phone(browser, server, cookies, ["/console/", "/console/search?q=ada@example.com",
                                                        f"/console/wallets/{ada_wallet}",
                                                        "/console/withdrawals", "/console/deliveries",
                                                        "/console/admin-log",
                                                        f"/console/search?wallet_id={ada_wallet}"],
                             tmp_path)

                # Sign out: the session ends; the same cookie opens nothing.
                page.click("header button:text('Sign out')")
                expect(page).to_have_url(server + "/console/sign-in")
                walk.shot("signed-out")
                page.goto(server + "/console/withdrawals")
                expect(page).to_have_url(server + "/console/sign-in")
                stale = httpx.get(server + "/console/", cookies={c["name"]: c["value"] for c in cookies},
                                  follow_redirects=False)
                assert stale.status_code == 303
                assert not walk.errors, walk.errors
                assert len(walk.shots) == 11 and all(path.stat().st_size > 0 for path in walk.shots)
            finally:
                browser.close()
    finally:
        receiver.close()
