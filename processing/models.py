"""What processing keeps beside a cheque between calculate and confirm (the cheque itself is
crm.Purchase): the hold, the account, and the booking plan the engine produced."""
from __future__ import annotations

from django.db import models


class Booking(models.Model):
    """One per sale cheque (and per refund): how to book it at confirm, and the request it came from.

    `plan` holds what confirm books: the bonus lots (offer, amount, activation, expiry), the coupons
    the offers used and must issue, the limited offers' usage. `digest` is a hash of the cheque's
    lines (a confirm with other lines is `different_cheque`); `request_digest` of the whole calculate
    request (an identical retry answers the stored answer and holds nothing twice).
    """

    purchase = models.OneToOneField("crm.Purchase", primary_key=True, on_delete=models.CASCADE, related_name="booking")
    account = models.ForeignKey("crm.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                help_text="The account points are held on, redeemed from and accrued to.")
    hold = models.ForeignKey("crm.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveIntegerField(default=1, help_text="How many times this cheque was calculated.")
    digest = models.CharField(max_length=64, blank=True)
    request_digest = models.CharField(max_length=64, blank=True)
    plan = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"booking of purchase #{self.purchase_id}"
