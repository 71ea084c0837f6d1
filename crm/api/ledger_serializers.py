"""Serializers of the ledger API: balances, statement entries, adjustment and reversal requests."""
from __future__ import annotations

from rest_framework import serializers

from crm.models import LedgerEntry
from crm.selectors.ledger import IDENTIFIER_TYPES


class AccountBalanceSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    currency = serializers.CharField()
    activated = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Spendable points (with held ones).")
    pending = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Accrued, not yet activated.")
    held = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Reserved by cheques in progress.")
    available = serializers.DecimalField(max_digits=18, decimal_places=2, help_text="Activated minus held.")
    expiring_soon = serializers.DecimalField(max_digits=18, decimal_places=2,
                                             help_text="Active points expiring within the program's notice period.")
    next_expiry = serializers.DateTimeField(allow_null=True)
    next_activation = serializers.DateTimeField(allow_null=True)


class LedgerEntrySerializer(serializers.ModelSerializer):
    expire_at = serializers.DateTimeField(source="lot.expire_at", allow_null=True, read_only=True,
                                          help_text="For credits: when these points expire.")
    activate_at = serializers.DateTimeField(source="lot.activate_at", allow_null=True, read_only=True)

    class Meta:
        model = LedgerEntry
        fields = ("id", "kind", "amount", "activated_delta", "pending_delta", "held_delta", "source", "description",
                  "purchase", "reverses", "expire_at", "activate_at", "created_at")
        read_only_fields = fields


class StatementSerializer(serializers.Serializer):
    results = LedgerEntrySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next, older page.")


_KEY_HELP = ("Unique per request you mean (e.g. a UUID); a retry with the same key returns the first answer and "
             "books nothing. May also be sent as the Idempotency-Key header.")


class AdjustmentSerializer(serializers.Serializer):
    identifier_type = serializers.ChoiceField(choices=IDENTIFIER_TYPES)
    identifier = serializers.CharField(max_length=254, help_text="Phone (any format), email, card number, barcode or external UID.")
    amount = serializers.CharField(max_length=24, help_text="Signed points with up to 2 decimals, e.g. \"150.00\" or \"-20\".")
    reason = serializers.CharField(max_length=300)
    currency = serializers.CharField(max_length=16, required=False, help_text="Currency code; the default one if absent.")
    idempotency_key = serializers.CharField(max_length=120, required=False, help_text=_KEY_HELP)


class ReversalSerializer(serializers.Serializer):
    amount = serializers.CharField(max_length=24, required=False,
                                   help_text="Points to reverse; everything not yet reversed if absent.")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)
    idempotency_key = serializers.CharField(max_length=120, required=False, help_text=_KEY_HELP)


class BookingSerializer(serializers.Serializer):
    entry = LedgerEntrySerializer()
    balance = AccountBalanceSerializer()
    replayed = serializers.BooleanField(help_text="True when this key had already booked: nothing new was booked.")
