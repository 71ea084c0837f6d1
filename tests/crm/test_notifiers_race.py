"""Two customers verifying the same phone at the same moment: exactly one wins, the other gets a clear error."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from core.actors import Actor
from core.errors import DomainError
from crm.models import Notifier
from crm.services.notifiers import notifier_verify_confirm, notifier_verify_request
from tests.conftest import run_in_threads
from tests.crm.otp_outbox import otp_outbox  # noqa: F401  (fixture)
from tests.factories.crm import NotifierFactory

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor.system("test")
PHONE = "+79163332211"


def test_two_customers_verifying_one_phone_at_once_exactly_one_wins(otp_outbox):
    notifiers = [NotifierFactory(value=PHONE), NotifierFactory(value=PHONE)]
    codes = []
    for notifier in notifiers:
        notifier_verify_request(notifier=notifier, actor=ACTOR)  # committed: the sender runs
        codes.append(otp_outbox.last_code(PHONE))

    results = run_in_threads(
        lambda i: notifier_verify_confirm(notifier=notifiers[i], code=codes[i], actor=ACTOR), count=2
    )

    winners = [r for r in results if isinstance(r, Notifier)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1, results
    assert len(losers) == 1 and losers[0].code == "notifier_taken" and losers[0].status == 409
    assert Notifier.objects.filter(value=PHONE, verified=True).count() == 1


def test_the_unique_index_is_the_last_wall_when_the_check_passes_in_both(otp_outbox):
    """Deterministic: the other transaction verifies after our check but before our write."""
    first, second = NotifierFactory(value=PHONE), NotifierFactory(value=PHONE)
    notifier_verify_request(notifier=second, actor=ACTOR)
    code = otp_outbox.last_code(PHONE)
    written = threading.Event()

    def other_transaction() -> None:
        try:
            with transaction.atomic():
                Notifier.objects.filter(pk=first.pk).update(verified=True)
                written.set()
                time.sleep(0.5)  # hold the uncommitted row while the service checks and writes
        finally:
            connection.close()

    thread = threading.Thread(target=other_transaction)
    thread.start()
    assert written.wait(10)
    # The service's pre-check cannot see the uncommitted row; its UPDATE waits on the unique index,
    # then fails when the other transaction commits.
    with pytest.raises(DomainError) as caught:
        notifier_verify_confirm(notifier=second, code=code, actor=ACTOR)
    thread.join(10)
    assert caught.value.code == "notifier_taken"
    assert list(Notifier.objects.filter(value=PHONE, verified=True).values_list("pk", flat=True)) == [first.pk]
