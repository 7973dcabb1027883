"""The member journey in a real browser (Debian's Chromium via Playwright) against a live server.

Sign up → confirm the email → zero balance → a purchase arrives → balance and tier progress update → redeem a
reward with its confirmation step → the voucher appears with its QR code.
Dashboard screenshots at phone and desktop widths are saved in ``test-artifacts/``.
"""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from members.models import Member
from members.services.purchases import PurchaseLineInput, purchase_record
from rewards.models import Reward
from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still plain sync
    # code. Set for this test only, so it never leaks into other tests (e.g. the `check --deploy` subprocess).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing: install Debian's chromium package.")
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        yield browser
        browser.close()


def _screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_sign_up_confirm_see_zero_then_points_arrive(live_server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)

    # Sign up.
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("First name").fill("Robin")
    page.get_by_role("textbox", name="Email").fill("robin@example.com")
    page.locator("input[name=password1]").fill("a-long-secret-42")
    page.locator("input[name=password2]").fill("a-long-secret-42")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    assert "/accounts/confirm-email/" in page.url

    # Confirm the address with the link from the email (locmem outbox, shared with the live server thread).
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()

    # Logged in on confirmation: the dashboard shows a zero balance and the way to the next tier.
    page.goto(f"{live_server.url}/me/")
    assert page.get_by_test_id("balance").inner_text() == "0"
    assert "Earn 1,000 more points" in page.get_by_test_id("tier-next").inner_text()
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "0"

    # A till records a purchase (past its return window, so the points are spendable).
    member = Member.objects.get(user__email="robin@example.com")
    result = purchase_record(
        member=member,
        external_id="TILL-0001",
        lines=[PurchaseLineInput(sku="COF-1KG", quantity=10, unit_price=Decimal("25.00"), category="coffee")],
        channel="in_store",
        store="Utrecht",
        occurred_at=timezone.now() - timedelta(days=30),
        currency="EUR",
    )
    assert result.points_earned == 250

    page.reload()
    assert page.get_by_test_id("balance").inner_text() == "250"
    assert "Earn 750 more points" in page.get_by_test_id("tier-next").inner_text()
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "25"
    assert "Purchase TILL-0001" in page.locator(".entry-list").inner_text()
    _screenshot(page, "dashboard-1280.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _screenshot(page, "dashboard-390.png")

    # Keyboard: the skip link is the first stop.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    # Redeem a reward: catalogue → detail → confirmation step → "My vouchers" with the code and its QR code.
    Reward.objects.create(
        kind=Reward.Kind.FIXED_DISCOUNT, name="Five euros off", slug="five-off", points_cost=200, value=Decimal("5")
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/rewards/")
    page.get_by_role("link", name="Five euros off").first.click()
    page.get_by_role("link", name="Redeem").click()
    page.get_by_role("button", name="Confirm and redeem").click()
    page.wait_for_load_state()
    assert page.url.endswith("/rewards/vouchers/")
    qr = page.locator(".qr-code svg").first
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box["width"] > 100 and box["height"] > 100
    code = page.locator(".voucher-code").first.inner_text().strip()
    assert len(code) >= 6
    _screenshot(page, "vouchers-1280.png")

    page.goto(f"{live_server.url}/me/")
    assert page.get_by_test_id("balance").inner_text() == "50"
    context.close()
