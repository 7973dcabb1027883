"""The member journey in a real browser (Debian's Chromium via Playwright) against a live server.

Visitor browses the catalogue → sign up (a wrong referral code is shown beside its field, then cleared) → confirm
the email → zero balance → a purchase arrives → balance and tier progress update → a reward out of reach: points
missing, confirming disabled → redeem one in reach with its confirmation step → the voucher appears with its QR
code. The staff side: the admin index with its key figures, analytics, accounting, exports, imports, member 360
and a campaign report. axe-core (``node_modules/axe-core``, pinned in package-lock.json) checks every page: no
serious or critical violation. Screenshots at 390 and 1280 px are saved in ``test-artifacts/``.
"""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.services.staff import import_job_create
from campaigns.models import Campaign
from members.models import FeedbackResponse, Member, PointsAccount, User
from members.services.feedback import feedback_record
from members.services.purchases import PurchaseLineInput, purchase_record
from members.tasks import send_feedback_requests
from rewards.models import Reward
from tests.conftest import IN_CI
from tests.factories import MemberFactory, campaign_factory, earning_action_factory, points_give

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


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


def _screenshots(page, name):
    """The page at desktop and phone widths (``name-1280.png``, ``name-390.png``); nothing overflows sideways."""
    page.set_viewport_size({"width": 1280, "height": 900})
    _screenshot(page, f"{name}-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _screenshot(page, f"{name}-390.png")
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"CI=true but {AXE} is missing: run `npm ci` (make install does).")
        pytest.skip("axe-core not installed: run `npm ci`")
    return AXE.read_text()


def _axe(page, source, label):
    """Run axe-core on the page; fail on any serious or critical violation, naming the rule and the elements."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{violation['id']} ({violation['impact']}): "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in violation["nodes"][:5])
        for violation in result["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
    assert not bad, f"{label} ({page.url}): " + " | ".join(bad)


def _visit(page, url, source, *, status=200):
    response = page.goto(url)
    # A page that is not there would pass axe as the friendly 404: every page checked must really be served.
    assert response is not None and response.status == status, f"{url} answered {response and response.status}"
    page.wait_for_load_state()
    _axe(page, source, url)


def test_sign_up_confirm_see_zero_then_points_arrive(live_server, browser, axe_source):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    Reward.objects.create(
        kind=Reward.Kind.FREE_PRODUCT, name="A free flat white", slug="flat-white", points_cost=1250, featured=True
    )

    # A visitor browses the catalogue: prices in points, join to redeem.
    _visit(page, f"{live_server.url}/", axe_source)
    page.get_by_role("link", name="A free flat white").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/rewards/flat-white/")
    assert "1,250 points" in page.locator("main").inner_text()
    _axe(page, axe_source, "reward detail, visitor")
    _visit(page, f"{live_server.url}/rewards/", axe_source)
    assert page.get_by_role("link", name="Join to redeem").first.is_visible()

    # Sign up with a mistyped referral code: told beside the field, corrected by clearing it.
    _visit(page, f"{live_server.url}/accounts/signup/", axe_source)
    page.get_by_label("First name").fill("Robin")
    page.get_by_role("textbox", name="Email").fill("robin@example.com")
    page.locator("input[name=password1]").fill("a-long-secret-42")
    page.locator("input[name=password2]").fill("a-long-secret-42")
    page.locator("input[name=referral_code]").fill("NOSUCH22")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    assert "/accounts/signup/" in page.url
    assert "We don't know the referral code NOSUCH22" in page.locator("main").inner_text()
    _axe(page, axe_source, "sign-up with an error")
    page.locator("input[name=referral_code]").fill("")
    page.locator("input[name=password1]").fill("a-long-secret-42")
    page.locator("input[name=password2]").fill("a-long-secret-42")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    assert "/accounts/confirm-email/" in page.url

    # Confirm the address with the link from the email (locmem outbox, shared with the live server thread).
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    _axe(page, axe_source, "confirm email")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()

    # Logged in on confirmation: the dashboard shows a zero balance and the way to the next tier.
    _visit(page, f"{live_server.url}/me/", axe_source)
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
    _screenshots(page, "dashboard")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _axe(page, axe_source, "dashboard at 390 px")
    # Keyboard: the skip link is the first stop.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    # The phone menu is one row: the links fold behind "Menu" (a checkbox toggle, no JavaScript needed).
    header = page.locator(".site-header").bounding_box()
    assert header["height"] < 90
    assert not page.locator("#site-nav").get_by_role("link", name="Activity").is_visible()
    page.get_by_text("Menu", exact=True).click()
    assert page.locator("#site-nav").get_by_role("link", name="Activity").is_visible()
    _axe(page, axe_source, "phone menu open")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Every other member page passes axe.
    member_pages = ("/me/activity/", "/me/tiers/", "/me/card/", "/me/profile/", "/me/membership/", "/me/earn/")
    for path in (*member_pages, "/campaigns/", "/partners/", "/referrals/"):  # the referral page last
        _visit(page, f"{live_server.url}{path}", axe_source)
    # The referral page's copy button appears where the Clipboard API works (localhost is a secure context).
    assert page.get_by_role("button", name="Copy link").is_visible()

    # Out of reach: the confirmation says how many points are missing and confirming is disabled.
    _visit(page, f"{live_server.url}/rewards/flat-white/redeem/", axe_source)
    assert page.get_by_test_id("redeem-missing").inner_text() == "1,000"
    assert page.get_by_test_id("redeem-confirm").is_disabled()
    assert page.title().startswith("Redeem: A free flat white")
    _screenshots(page, "redeem-confirmation-short")

    # Redeem a reward: catalogue → detail → confirmation step → "My vouchers" with the code and its QR code.
    Reward.objects.create(
        kind=Reward.Kind.FIXED_DISCOUNT, name="Five euros off", slug="five-off", points_cost=200, value=Decimal("5")
    )
    _visit(page, f"{live_server.url}/rewards/", axe_source)
    page.get_by_role("link", name="Five euros off").first.click()
    _axe(page, axe_source, "reward detail, member")
    page.get_by_role("link", name="Redeem").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("redeem-after").inner_text() == "50"
    _axe(page, axe_source, "redeem confirmation")
    _screenshots(page, "redeem-confirmation")
    page.get_by_role("button", name="Confirm and redeem").click()
    page.wait_for_load_state()
    assert page.url.endswith("/rewards/vouchers/")
    qr = page.locator(".qr-code svg").first
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box["width"] > 100 and box["height"] > 100
    code = page.locator(".voucher-code").first.inner_text().strip()
    assert len(code) >= 6
    _axe(page, axe_source, "vouchers")
    _screenshots(page, "vouchers")

    page.goto(f"{live_server.url}/me/")
    assert page.get_by_test_id("balance").inner_text() == "50"
    context.close()


def test_staff_console_pages(live_server, browser, axe_source):
    """A superuser's tour of the console: each page of ours passes axe; the report pages are screenshotted."""
    staff = User.objects.create_superuser(email="sam@example.com", password="a-long-secret-42", first_name="Sam")
    member = Member.objects.get(pk=_member_with_points().pk)
    campaign = campaign_factory(name="Double points week", kind=Campaign.Kind.MULTIPLIER, holdout_percent=10)
    client = Client()
    client.force_login(staff)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    host = live_server.url.split("://", 1)[1].split(":")[0]
    session = client.cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": session, "domain": host, "path": "/"}])
    page = context.new_page()
    page.set_default_timeout(15_000)

    _visit(page, f"{live_server.url}/admin/", axe_source)
    figures = page.get_by_test_id("key-figures").inner_text()
    assert "Active members" in figures and "Failed webhook deliveries" in figures
    _screenshots(page, "admin-index")
    page.get_by_label("Member 360: find a member").fill(member.member_number)
    page.get_by_role("button", name="Open").click()
    page.wait_for_load_state()
    assert page.url.endswith(reverse("staff:member_360", kwargs={"member_id": member.pk}))
    _axe(page, axe_source, "member 360")

    _visit(page, f"{live_server.url}{reverse('staff:analytics')}", axe_source)
    _screenshots(page, "analytics")
    _visit(page, f"{live_server.url}{reverse('staff:liability')}", axe_source)
    assert "Revenue and contract liability for points" in page.content()
    _screenshots(page, "liability")
    for name in ("staff:exports", "staff:import_new"):
        _visit(page, f"{live_server.url}{reverse(name)}", axe_source)
    _visit(page, f"{live_server.url}{reverse('staff:member_adjust', kwargs={'member_id': member.pk})}", axe_source)
    _visit(page, f"{live_server.url}{reverse('admin:campaigns_campaign_report', args=[campaign.pk])}", axe_source)
    _screenshots(page, "campaign-report")
    # The staff pages' own components: the campaign kind chooser, a kind's form, the saved email's preview,
    # an import job's progress bar, the approval and review queues.
    _visit(page, f"{live_server.url}{reverse('admin:campaigns_campaign_add')}", axe_source)
    _visit(page, f"{live_server.url}{reverse('admin:campaigns_campaign_add')}?kind=winback", axe_source)
    winback = campaign_factory(
        name="We miss you",
        kind=Campaign.Kind.WINBACK,
        status=Campaign.Status.DRAFT,
        audience_days=60,
        offer_days=14,
        bonus_points=200,
        email_subject="We miss you, {{ first_name }}",
        email_body="You have {{ balance }} points.",
    )
    _visit(page, f"{live_server.url}{reverse('admin:campaigns_campaign_change', args=[winback.pk])}", axe_source)
    assert "We miss you, Alex" in page.content()
    upload = SimpleUploadedFile("m.csv", b"email,first_name\nnew@example.com,New\n", content_type="text/csv")
    job = import_job_create(kind="members", file=upload, dry_run=True, actor=staff, source_name="till")
    _visit(page, f"{live_server.url}{reverse('admin:backoffice_importjob_change', args=[job.pk])}", axe_source)
    for name in (
        "admin:backoffice_adjustmentrequest_changelist",
        "admin:referrals_heldreferral_changelist",
        "staff:partner_settlements",
    ):
        _visit(page, f"{live_server.url}{reverse(name)}", axe_source)
    _answers_for_the_nps_dashboard()
    _visit(page, f"{live_server.url}{reverse('staff:nps')}", axe_source)
    assert page.locator("#nps-total").inner_text() == "0.0"  # one promoter, one detractor
    assert page.locator("#nps-comments").get_by_role("link", name=re.compile(r"^M")).count() == 2
    _screenshots(page, "nps-dashboard")
    _visit(page, f"{live_server.url}{reverse('admin:members_actionoccurrence_changelist')}", axe_source)
    # Staff accounts are not members: the member site offers to join instead of enrolling.
    page.goto(f"{live_server.url}/me/")
    assert page.url.endswith("/me/join/")
    _axe(page, axe_source, "staff join page")
    assert not Member.objects.filter(user=staff).exists()
    context.close()


def _answers_for_the_nps_dashboard():
    for number, (score, store) in enumerate([(10, "Utrecht"), (2, "webshop")], start=1):
        member = MemberFactory(email=f"voice{number}@example.com")
        purchase = purchase_record(
            member=member,
            external_id=f"NPS-{number}",
            lines=[PurchaseLineInput(sku="COF", quantity=1, unit_price=Decimal("8.00"), category="coffee")],
            channel="in_store",
            store=store,
            occurred_at=timezone.now() - timedelta(hours=3),
            currency="EUR",
            source="till",
        ).purchase
        feedback_record(
            member=member,
            score=score,
            comment=f"Comment {score}",
            external_id=f"F-{number}",
            source="till",
            purchase=purchase,
        )


def test_feedback_email_link_page_and_ways_to_earn(live_server, browser, axe_source):
    """A purchase a day ago → the feedback email → its link, logged out and without JavaScript → 0–10 and a
    comment → thanks and survey points → the same link again is refused kindly → Ways to earn shows the survey."""
    earning_action_factory(code="survey", name="Tell us how we did", points=25, limit_per_month=2)
    earning_action_factory(
        code="recycle", name="Bring back old gear", points=10, unit_name="item recycled", limit_per_month=20
    )
    member = MemberFactory(email="noor@example.com", first_name="Noor")
    purchase_record(
        member=member,
        external_id="TILL-FB-1",
        lines=[PurchaseLineInput(sku="COF-1KG", quantity=1, unit_price=Decimal("24.00"), category="coffee")],
        channel="in_store",
        store="Utrecht",
        occurred_at=timezone.now() - timedelta(days=1, hours=2),
        currency="EUR",
    )
    mail.outbox.clear()
    assert send_feedback_requests() == 1
    email = mail.outbox[0]
    assert email.subject == "How was your visit to Utrecht?" and "25 points" in email.body
    link = re.search(r"https?://\S+/feedback/\S+/", email.body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]

    # The page passes axe (with scripts on, for axe itself) ...
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    _visit(page, f"{live_server.url}/{path}", axe_source)
    assert "How likely are you to recommend us to a friend?" in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _screenshots(page, "feedback-form")
    context.close()

    # ... and works without JavaScript, logged out.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/{path}")
    page.get_by_role("button", name="Send my answer").click()
    page.wait_for_load_state()
    assert "Choose a number from 0 to 10." in page.locator("main").inner_text()
    page.get_by_label("9", exact=True).check()
    page.get_by_label("What is the main reason for your score?").fill("Friendly staff, quick service")
    page.get_by_role("button", name="Send my answer").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("feedback-state").inner_text() == "Thank you for your feedback!"
    assert "25 points were added" in page.locator("main").inner_text()
    context.close()
    assert PointsAccount.objects.get(pk=member.pk).balance == 25

    # A second answer through the same link is refused kindly (the first answer is kept).
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    _visit(page, f"{live_server.url}/{path}", axe_source)
    assert page.get_by_test_id("feedback-state").inner_text() == "Thank you for your feedback!"
    assert not page.get_by_role("button", name="Send my answer").count()
    assert FeedbackResponse.objects.get().score == 9
    _visit(page, f"{live_server.url}/feedback/1:forged/", axe_source, status=404)
    assert page.get_by_test_id("feedback-state").inner_text() == "This link does not work"

    # Signed in, Ways to earn says what is left this month; visitors see the summary on the home page.
    client = Client()
    client.force_login(member.user)
    host = live_server.url.split("://", 1)[1].split(":")[0]
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "domain": host, "path": "/"}]
    )
    _visit(page, f"{live_server.url}/me/earn/", axe_source)
    assert page.get_by_test_id("earn-limit-survey-month").inner_text() == "1 of 2 left this month"
    assert page.get_by_test_id("earn-points-recycle").inner_text() == "10 points per item recycled"
    _screenshots(page, "ways-to-earn")
    context.clear_cookies()
    _visit(page, f"{live_server.url}/", axe_source)
    assert "Bring back old gear" in page.locator("main").inner_text()
    context.close()


def _member_with_points():
    member = MemberFactory(email="pat@example.com", first_name="Pat")
    points_give(member, 1200)
    return member
