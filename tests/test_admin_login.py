"""Admin logins are throttled: five failures for one name from one address lock that pair out
(django-axes), and the lockout holds even for the right password."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "ann", "ann@example.org", "right-password-42", is_staff=True, is_superuser=True
    )


def login(client, username: str, password: str, address: str = "192.0.2.10"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_right_password_logs_in(client, staff):
    response = login(client, "ann", "right-password-42")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_five_failures_lock_the_name_out_from_that_address(client, staff):
    for _ in range(4):
        assert login(client, "ann", "wrong").status_code == 200  # the form again
    locked = login(client, "ann", "wrong")
    assert locked.status_code == 429

    again = login(client, "ann", "right-password-42")
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_lockout_is_for_that_name_and_address_only(client, staff, django_user_model):
    password = "bobs-password-42"  # pragma: allowlist secret
    django_user_model.objects.create_user("bob", password=password, is_staff=True)
    for _ in range(5):
        login(client, "ann", "wrong")
    assert login(client, "bob", password).status_code == 302
    assert login(client, "ann", "right-password-42", address="198.51.100.7").status_code == 302


def test_a_success_resets_the_count(client, staff):
    for _ in range(4):
        login(client, "ann", "wrong")
    assert login(client, "ann", "right-password-42").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "ann", "wrong").status_code == 200
