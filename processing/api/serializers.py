"""Request and answer shapes of the till API. Answers are built by the services as plain dicts;
the answer serializers here document every field for the OpenAPI schema."""
from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from processing.selectors import IDENTIFIER_KINDS


class TillLocalDateTimeField(serializers.DateTimeField):
    """A time as the till sends it: naive = the store's local time (kept naive here; the service
    localises it with the store's zone), or with an offset."""

    def enforce_timezone(self, value):
        return value


# --- requests -------------------------------------------------------------------------------------

class PosIdentifierIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IDENTIFIER_KINDS, help_text=(
        "card (card number), barcode, track (magnetic track), phone, email, external_uid, qr (one-time code from "
        "the app, POST /me/qr), coupon (a personal coupon's code: its owner)."))
    value = serializers.CharField(max_length=256, help_text="The identifier as read at the till.")


class PosLineIn(serializers.Serializer):
    position = serializers.IntegerField(min_value=1, help_text="Line number in the cheque, unique within it.")
    sku = serializers.CharField(max_length=64, help_text="Product SKU (catalogue).")
    name = serializers.CharField(max_length=300, required=False, allow_blank=True, help_text="Product name (optional).")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"),
                                        help_text="Units (up to 3 decimals), positive.")
    price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"),
                                     help_text="Price per unit.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False,
                                      help_text="Line amount before our discounts; default price x quantity.")


class PosChequeIn(serializers.Serializer):
    number = serializers.CharField(max_length=64, help_text="Cheque number, unique per till.")
    purchased_at = TillLocalDateTimeField(required=False, help_text=(
        "When the sale happened: the till's local time (naive = the store's time zone) or with an offset. "
        "Default: now."))
    identifier = PosIdentifierIn(required=False, allow_null=True, help_text="The member; omit for an anonymous cheque.")
    lines = PosLineIn(many=True, allow_empty=False, help_text="The cheque's lines.")
    coupons = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list,
                                    help_text="Coupon codes presented.")
    bonus_payment = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False,
                                             default=Decimal("0"), help_text="Points the member pays with (held).")


class PosBalanceIn(serializers.Serializer):
    identifier = PosIdentifierIn(help_text="The member.")


class PosConfirmIn(serializers.Serializer):
    number = serializers.CharField(max_length=64, help_text="The calculated cheque's number.")
    lines = PosLineIn(many=True, required=False, help_text="Optional: the lines again; if they differ from the "
                   "calculated cheque the answer is different_cheque.")


class PosNumberIn(serializers.Serializer):
    number = serializers.CharField(max_length=64, help_text="The cheque's number.")


class PosRefundLineIn(serializers.Serializer):
    position = serializers.IntegerField(min_value=1, help_text="Position of the line in the original cheque.")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"), required=False,
                                        help_text="Units refunded; default: what is left of the line.")


class PosRefundIn(serializers.Serializer):
    number = serializers.CharField(max_length=64, help_text="The refund's own number, unique per till.")
    original_number = serializers.CharField(max_length=64, help_text="The sale's number (this till, else this store).")
    lines = PosRefundLineIn(many=True, required=False, help_text="Lines refunded; none = everything left.")


# --- answers (documentation) ----------------------------------------------------------------------

MONEY = {"max_digits": 14, "decimal_places": 2}


class PosStatusOut(serializers.Serializer):
    system = serializers.CharField(help_text="Status system code.")
    system_name = serializers.CharField(help_text="Status system name.")
    status = serializers.CharField(help_text="Status code.")
    name = serializers.CharField(help_text="Status name.")


class PosMemberOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Customer id.")
    name = serializers.CharField(help_text="First and last name.")
    state = serializers.CharField(help_text="anonymous, registered.")
    statuses = PosStatusOut(many=True, help_text="Current statuses.")


class PosCardOut(serializers.Serializer):
    number = serializers.CharField(help_text="Card number.")
    state = serializers.CharField(help_text="active or not_activated (earns, cannot spend).")


class PosBalanceOut(serializers.Serializer):
    account_id = serializers.IntegerField(help_text="Account id.")
    currency = serializers.CharField(help_text="Currency code.")
    activated = serializers.DecimalField(help_text="Spendable points (incl. held).", **MONEY)
    pending = serializers.DecimalField(help_text="Accrued, not yet activated.", **MONEY)
    held = serializers.DecimalField(help_text="Held by cheques being calculated.", **MONEY)
    available = serializers.DecimalField(help_text="activated - held.", **MONEY)


class PosBalanceAnswer(serializers.Serializer):
    member = PosMemberOut(help_text="The member.")
    card = PosCardOut(allow_null=True, help_text="The card presented (null when identified otherwise).")
    balance = PosBalanceOut(many=True, help_text="Balances per account.")
    bonus_payment_available = serializers.DecimalField(help_text="The most payable by points now.", **MONEY)


class PosLineOfferOut(serializers.Serializer):
    offer_id = serializers.IntegerField(help_text="Offer id.")
    name = serializers.CharField(help_text="Offer name.")
    effect = serializers.CharField(help_text="discount, bonus, bonus_cap (value = percent), coupon, message.")
    value = serializers.DecimalField(help_text="What the offer gave this line.", **MONEY)


class PosLineOut(serializers.Serializer):
    position = serializers.IntegerField(help_text="Line position.")
    sku = serializers.CharField(help_text="SKU.")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, help_text="Units.")
    price = serializers.DecimalField(help_text="Price per unit.", **MONEY)
    amount = serializers.DecimalField(help_text="Amount before discount.", **MONEY)
    discount = serializers.DecimalField(help_text="Discount on the line.", **MONEY)
    bonus_accrued = serializers.DecimalField(help_text="Points earned on the line.", **MONEY)
    bonus_paid = serializers.DecimalField(help_text="Points paid on the line (the bonus payment spread in "
                                          "proportion to each line's payable maximum).", **MONEY)
    to_pay = serializers.DecimalField(help_text="amount - discount - bonus_paid.", **MONEY)
    bonus_payment_max = serializers.DecimalField(help_text="The most of this line payable by points.", **MONEY)
    offers = PosLineOfferOut(many=True, help_text="Offers that gave the line something.")


class PosTotalsOut(serializers.Serializer):
    amount = serializers.DecimalField(help_text="Sum of lines before discounts.", **MONEY)
    discount = serializers.DecimalField(help_text="Total discount.", **MONEY)
    bonus_accrued = serializers.DecimalField(help_text="Points earned.", **MONEY)
    bonus_paid = serializers.DecimalField(help_text="Points paid.", **MONEY)
    to_pay = serializers.DecimalField(help_text="Money to pay: amount - discount - bonus_paid.", **MONEY)


class PosCouponUsedOut(serializers.Serializer):
    code = serializers.CharField(help_text="Coupon code.")
    offer_id = serializers.IntegerField(help_text="The offer that used it.")


class PosCouponRejectedOut(serializers.Serializer):
    code = serializers.CharField(help_text="Coupon code.")
    reason = serializers.CharField(help_text="not_found, expired, used, revoked, not_active_yet, other_customer, "
                                   "not_issued, not_applicable.")
    message = serializers.CharField(help_text="The reason in words.")


class PosCouponToIssueOut(serializers.Serializer):
    offer_id = serializers.IntegerField(help_text="The offer issuing it.")
    issue_id = serializers.IntegerField(help_text="Coupon issue.")
    count = serializers.IntegerField(help_text="How many coupons.")


class PosCouponsOut(serializers.Serializer):
    used = PosCouponUsedOut(many=True, help_text="Coupons the offers used (redeemed at confirm).")
    rejected = PosCouponRejectedOut(many=True, help_text="Coupons not used, with the reason.")
    to_issue = PosCouponToIssueOut(many=True, help_text="Coupons issued to the member at confirm.")
    issued = serializers.ListField(child=serializers.CharField(), required=False,
                                   help_text="After confirm: the codes issued.")


class PosMessageOut(serializers.Serializer):
    offer_id = serializers.IntegerField(help_text="Offer id.")
    text = serializers.CharField(help_text="Text to print on the cheque.")
    position = serializers.IntegerField(allow_null=True, help_text="The line it is about, or null.")


class PosBonusLotOut(serializers.Serializer):
    offer_id = serializers.IntegerField(help_text="The offer accruing.")
    amount = serializers.DecimalField(help_text="Points.", **MONEY)
    lines = serializers.ListField(child=serializers.IntegerField(), help_text="Positions of the lines it was accrued on.")
    activate_at = serializers.DateTimeField(allow_null=True, help_text="When the points become spendable (UTC).")
    expire_at = serializers.DateTimeField(allow_null=True, help_text="When they expire (UTC); null: never.")


class PosChequeAnswer(serializers.Serializer):
    purchase_id = serializers.IntegerField(help_text="The purchase's id.")
    number = serializers.CharField(help_text="Cheque number.")
    state = serializers.ChoiceField(choices=["calculated", "confirmed", "cancelled"], help_text="The cheque's state.")
    kind = serializers.CharField(help_text="sale.")
    offline = serializers.BooleanField(help_text="Sent later by an offline till (accrual only).")
    purchased_at = serializers.DateTimeField(help_text="When the sale happened (UTC).")
    member = PosMemberOut(allow_null=True, help_text="The member, or null for an anonymous cheque.")
    card = PosCardOut(allow_null=True, help_text="The card presented.")
    lines = PosLineOut(many=True, help_text="Per line results.")
    totals = PosTotalsOut(help_text="Cheque totals.")
    bonus_payment_max = serializers.DecimalField(help_text="The most of the cheque payable by points (offers' caps).",
                                                 **MONEY)
    bonus_payment_available = serializers.DecimalField(required=False, help_text=(
        "The most the member can pay by points here: min(cap, available); 0 on a card not activated."), **MONEY)
    coupons = PosCouponsOut(help_text="Coupons used, rejected, to issue.")
    messages = PosMessageOut(many=True, help_text="Messages for the cheque.")
    bonus_lots = PosBonusLotOut(many=True, help_text="The points to accrue at confirm, by offer and lifetime.")
    balance = PosBalanceOut(many=True, help_text="The member's balances (after the hold; after booking once confirmed).")
    notes = serializers.ListField(child=serializers.CharField(), required=False,
                                  help_text="What could not be booked as computed (e.g. a lot expired before an "
                                  "offline cheque arrived).")
    replayed = serializers.BooleanField(required=False, help_text="True when this is the stored answer of a retry.")


class PosRefundLineOut(serializers.Serializer):
    position = serializers.IntegerField(help_text="Line position (of the original).")
    sku = serializers.CharField(help_text="SKU.")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, help_text="Units refunded now.")
    amount = serializers.DecimalField(help_text="Amount refunded (before discount).", **MONEY)
    discount = serializers.DecimalField(help_text="Discount share of the refunded units.", **MONEY)
    bonus_accrued = serializers.DecimalField(help_text="Points earned on the refunded units.", **MONEY)
    bonus_paid = serializers.DecimalField(help_text="Points paid for the refunded units.", **MONEY)
    refunded_quantity = serializers.DecimalField(max_digits=12, decimal_places=3,
                                                 help_text="Units of the line refunded so far, this refund included.")
    offers = serializers.ListField(child=serializers.DictField(), help_text="Always empty.")


class PosRefundAnswer(serializers.Serializer):
    purchase_id = serializers.IntegerField(help_text="The refund's purchase id.")
    number = serializers.CharField(help_text="Refund number.")
    state = serializers.CharField(help_text="confirmed.")
    kind = serializers.CharField(help_text="refund.")
    original_number = serializers.CharField(help_text="The sale refunded.")
    original_purchase_id = serializers.IntegerField(help_text="Its purchase id.")
    lines = PosRefundLineOut(many=True, help_text="Lines refunded.")
    totals = PosTotalsOut(help_text="Totals (negative points: taken back / given back).")
    points_taken_back = serializers.DecimalField(help_text="Accrued points reversed.", **MONEY)
    points_returned = serializers.DecimalField(help_text="Paid points given back.", **MONEY)
    points_not_recovered = serializers.DecimalField(help_text="Accrued points the member had already spent.", **MONEY)
    balance = PosBalanceOut(many=True, help_text="Balances after the refund.")
    replayed = serializers.BooleanField(required=False, help_text="True when this is the stored answer of a retry.")


class PosQrAnswer(serializers.Serializer):
    token = serializers.CharField(help_text="The code to show as a QR; works once, at a till's calculate.")
    expires_at = serializers.DateTimeField(help_text="Valid until (UTC).")
    ttl_seconds = serializers.IntegerField(help_text="Lifetime in seconds.")


class PosErrorOut(serializers.Serializer):
    status = serializers.IntegerField(help_text="HTTP status.")
    code = serializers.CharField(help_text="card_not_found, card_blocked, card_not_activated, customer_not_found, "
                                 "customer_blocked, not_enough_points, bonus_payment_too_high, coupon_invalid, "
                                 "validation_error, already_confirmed, already_cancelled, operation_not_found, "
                                 "different_cheque, wrong_operation_order, limit_reached, till_blocked, "
                                 "till_not_found.")
    message = serializers.CharField(help_text="The reason in words.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="Field (dotted, e.g. lines.0.quantity) -> reasons.")
