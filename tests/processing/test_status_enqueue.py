"""The confirm enqueues the status upgrade only when a status system is active (statuses.active)."""
from __future__ import annotations

from unittest import mock

import pytest

from statuses.active import forget, status_systems_active
from tests.processing.conftest import cheque


def post(client, path, body):
    return client.post(f"/api/v1/pos/{path}", body, format="json")


@pytest.mark.django_db
def test_confirm_enqueues_the_upgrade_only_with_an_active_status_system(client, member, cashback, products,
                                                                       django_capture_on_commit_callbacks):
    from tests.factories.statuses import spend_system

    forget()
    with mock.patch("statuses.tasks.status_upgrade.delay") as delay:
        assert post(client, "calculate", cheque("C-1", member=member)).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, "confirm", {"number": "C-1"}).status_code == 200
        delay.assert_not_called()
        assert status_systems_active() is False  # cached now

        system = spend_system(entry_level=True)  # the save clears this process's cached answer
        assert post(client, "calculate", cheque("C-2", member=member)).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, "confirm", {"number": "C-2"}).status_code == 200
        delay.assert_called_once_with(member.customer.pk)

        system.is_active = False
        system.save()
        assert status_systems_active() is False
