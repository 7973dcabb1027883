import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from rewards.models import PartnerCode, Reward, Voucher
from rewards.services import partner_codes_upload, reward_duplicate, reward_redeem
from tests.factories import RewardFactory
from tests.rewards.conftest import balance

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def png(size=(1600, 1200), colour="teal"):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return SimpleUploadedFile("coffee.png", buffer.getvalue(), content_type="image/png")


def test_changelist_shows_stock_and_redemptions_in_constant_queries(
    admin_client, member, django_assert_max_num_queries
):
    reward = RewardFactory(name="Flat white", points_cost=10, stock=5)
    for n in range(3):
        reward_redeem(member=member, reward=reward, idempotency_key=f"k{n}")
    admin_client.get("/admin/rewards/reward/")
    with django_assert_max_num_queries(12) as few:
        response = admin_client.get("/admin/rewards/reward/")
    body = response.content.decode()
    assert "Flat white" in body and '<td class="field-redemption_count">3</td>' in body
    assert '<td class="field-stock_left">2</td>' in body
    RewardFactory.create_batch(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin_client.get("/admin/rewards/reward/")


def test_adding_a_reward_with_an_image_makes_a_thumbnail(admin_client):
    response = admin_client.post(
        "/admin/rewards/reward/add/",
        {
            "kind": "free_product",
            "name": "Flat white",
            "slug": "flat-white",
            "points_cost": "250",
            "image": png(),
            "is_active": "on",
            "sort_order": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    reward = Reward.objects.get(slug="flat-white")
    assert reward.thumbnail
    with Image.open(reward.thumbnail.path) as thumb:
        assert thumb.size == (480, 360) and thumb.format == "JPEG"
    listing = admin_client.get("/admin/rewards/reward/").content.decode()
    assert reward.thumbnail.url in listing


def test_bulk_activate_deactivate_and_duplicate(admin_client):
    first, second = RewardFactory(is_active=True), RewardFactory(is_active=True)
    url = "/admin/rewards/reward/"
    admin_client.post(url, {"action": "deactivate", "_selected_action": [first.pk, second.pk]})
    assert not Reward.objects.filter(is_active=True).exists()
    admin_client.post(url, {"action": "activate", "_selected_action": [first.pk]})
    assert list(Reward.objects.filter(is_active=True)) == [first]
    admin_client.post(url, {"action": "duplicate", "_selected_action": [first.pk]})
    copy = Reward.objects.get(slug=f"{first.slug}-copy")
    assert not copy.is_active and copy.points_cost == first.points_cost and copy.name.endswith("(copy)")
    assert reward_duplicate(reward=first).slug == f"{first.slug}-copy-2"


def test_partner_code_upload_through_the_admin(admin_client, member):
    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, partner_name="CityBikes", points_cost=10, stock=None)
    url = f"/admin/rewards/reward/{reward.pk}/partner-codes/"
    assert admin_client.get(url).status_code == 200
    csv_file = SimpleUploadedFile("codes.csv", b"code\nBIKE-1\nBIKE-2\nBIKE-2\n\nBIKE-3\n" + b"X" * 101 + b"\n")
    response = admin_client.post(url, {"file": csv_file}, follow=True)
    body = response.content.decode()
    assert "3 codes added" in body and "lines: 7" in body
    reward.refresh_from_db()
    assert reward.stock == 3
    # Uploading again adds only the new codes.
    result = partner_codes_upload(reward=reward, file=io.BytesIO(b"BIKE-3\nBIKE-4\n"))
    assert (result.added, result.duplicates) == (1, 1)
    assert reward.stock == 4
    redemption = reward_redeem(member=member, reward=reward, idempotency_key="p")
    assert redemption.partner_code.code == "BIKE-1"
    assert PartnerCode.objects.filter(redemption__isnull=True).count() == 3


def test_partner_code_upload_rejects_bad_files(admin_client):
    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, partner_name="CityBikes", points_cost=10)
    url = f"/admin/rewards/reward/{reward.pk}/partner-codes/"
    response = admin_client.post(url, {"file": SimpleUploadedFile("codes.csv", "\xff\xfe".encode("latin-1"))})
    assert response.status_code == 200 and "UTF-8" in response.content.decode()
    other = RewardFactory(points_cost=10)
    response = admin_client.post(
        f"/admin/rewards/reward/{other.pk}/partner-codes/", {"file": SimpleUploadedFile("c.csv", b"A\n")}
    )
    assert "Only partner rewards" in response.content.decode()
    assert not PartnerCode.objects.exists()


def test_voucher_admin_cancel_action_returns_points(admin_client, member):
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=100, value=Decimal("1")), idempotency_key="a"
    ).voucher
    admin_client.post("/admin/rewards/voucher/", {"action": "cancel_vouchers", "_selected_action": [voucher.pk]})
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.CANCELLED and balance(member) == 1000


def test_donation_totals_page(admin_client, member):
    reward = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Food Bank", points_cost=10)
    reward_redeem(member=member, reward=reward, idempotency_key="d", points=120)
    body = admin_client.get("/admin/rewards/redemption/donations/").content.decode()
    assert "Food Bank" in body and "120" in body


def test_admin_pages_render(admin_client, member):
    reward = RewardFactory(points_cost=10)
    redemption = reward_redeem(member=member, reward=reward, idempotency_key="a")
    for url in (
        f"/admin/rewards/reward/{reward.pk}/change/",
        "/admin/rewards/redemption/",
        f"/admin/rewards/redemption/{redemption.pk}/change/",
        "/admin/rewards/voucher/",
        f"/admin/rewards/voucher/{redemption.voucher.pk}/change/",
        "/admin/rewards/partnercode/",
    ):
        assert admin_client.get(url).status_code == 200, url
