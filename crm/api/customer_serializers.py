"""Shapes of the customer-side API: input serializers check types, services check the rules."""
from __future__ import annotations

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.models import Account, Card, Customer, Notifier, Purchase, PurchaseLine, PurchaseLineOffer

IDENTIFIER_KINDS = ("any", "phone", "email", "card_number", "barcode", "track", "external_uid")
IDENTIFIER_KIND_CHOICES = [(kind, kind) for kind in IDENTIFIER_KINDS]
CONTACT_KIND_CHOICES = [("phone", "phone"), ("email", "email")]


# --- out ----------------------------------------------------------------------------------------

class NotifierOut(serializers.ModelSerializer):
    class Meta:
        model = Notifier
        fields = ("id", "kind", "value", "verified", "verified_at", "is_primary", "created_at")


class CardOut(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="code", read_only=True)
    group = serializers.SlugRelatedField(slug_field="code", read_only=True)
    replaced_by = serializers.SlugRelatedField(slug_field="number", read_only=True)
    can_accrue = serializers.BooleanField(read_only=True)
    can_redeem = serializers.BooleanField(read_only=True)

    class Meta:
        model = Card
        fields = ("id", "number", "barcode", "track", "kind", "state", "state_reason", "category", "group",
                  "customer_id", "replaced_by", "issued_at", "activated_at", "expires_at", "can_accrue", "can_redeem")


class AccountOut(serializers.ModelSerializer):
    currency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    available_balance = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)

    class Meta:
        model = Account
        fields = ("id", "currency", "activated_balance", "pending_balance", "held_balance", "available_balance")


PROFILE_OUT = ("id", "first_name", "last_name", "middle_name", "gender", "birth_date", "timezone", "state",
               "registered_at", "registration_channel")


class CustomerBriefOut(serializers.ModelSerializer):
    """A search result: who it is, the primary contacts and the cards (prefetched)."""

    phone = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    cards = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = (*PROFILE_OUT, "external_uid", "phone", "email", "cards")

    def _primary(self, obj: Customer, kind: str) -> str | None:
        rows = [n for n in obj.notifiers.all() if n.kind == kind]
        rows.sort(key=lambda n: (not n.is_primary, not n.verified, n.pk))
        return rows[0].value if rows else None

    def get_phone(self, obj: Customer) -> str | None:
        return self._primary(obj, "phone")

    def get_email(self, obj: Customer) -> str | None:
        return self._primary(obj, "email")

    def get_cards(self, obj: Customer) -> list[dict]:
        return [{"id": c.pk, "number": c.number, "state": c.state} for c in obj.cards.all()]


class CustomerOut(serializers.ModelSerializer):
    notifiers = NotifierOut(many=True, read_only=True)
    cards = CardOut(many=True, read_only=True)
    accounts = AccountOut(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = (*PROFILE_OUT, "external_uid", "blocked_reason", "merged_into", "registration_store",
                  "created_at", "updated_at", "notifiers", "cards", "accounts")


class MeOut(serializers.ModelSerializer):
    """What the app shows its owner: no operator-only fields."""

    notifiers = NotifierOut(many=True, read_only=True)
    cards = CardOut(many=True, read_only=True)
    accounts = AccountOut(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = (*PROFILE_OUT, "notifiers", "cards", "accounts")


class CodeSentOut(serializers.Serializer):
    detail = serializers.CharField()
    expires_at = serializers.DateTimeField()


class LoginOut(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Customer <token>`.")
    customer_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


# --- in -----------------------------------------------------------------------------------------

class StrictIn(serializers.Serializer):
    """Refuses fields it does not know, by name: a typo or a forbidden field is never silently dropped."""

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["This field cannot be set here."] for name in unknown})
        return attrs


class ProfileIn(StrictIn):
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    middle_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Customer.Gender.choices, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    timezone = serializers.CharField(max_length=64, required=False)


class CustomerUpdateIn(ProfileIn):
    external_uid = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)


class CustomerCreateIn(CustomerUpdateIn):
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    registration_channel = serializers.ChoiceField(choices=Customer.Channel.choices, default=Customer.Channel.CALL_CENTER)
    registration_store = serializers.IntegerField(required=False, allow_null=True)
    registered = serializers.BooleanField(default=True, help_text="False creates an anonymous customer.")


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class MergeIn(serializers.Serializer):
    source_id = serializers.IntegerField(help_text="The customer merged into this one (it ends 'merged').")
    comment = serializers.CharField(max_length=300, allow_blank=True, default="")


class NotifierIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Notifier.Kind.choices)
    value = serializers.CharField(max_length=254)
    primary = serializers.BooleanField(required=False, allow_null=True, default=None)


class CodeIn(serializers.Serializer):
    code = serializers.CharField(max_length=12)


class ContactChangeIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CONTACT_KIND_CHOICES)
    value = serializers.CharField(max_length=254)


class ContactChangeConfirmIn(ContactChangeIn):
    code = serializers.CharField(max_length=12)


class CardIssueIn(serializers.Serializer):
    number = serializers.CharField(max_length=64)
    barcode = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    track = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    kind = serializers.ChoiceField(choices=Card.Kind.choices, default=Card.Kind.PHYSICAL)
    category = serializers.SlugField(required=False, allow_null=True, help_text="Card category code.")
    group = serializers.SlugField(required=False, allow_null=True, help_text="Card group code.")
    customer_id = serializers.IntegerField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class CardBindIn(serializers.Serializer):
    customer_id = serializers.IntegerField()


class CardReplaceIn(serializers.Serializer):
    new_number = serializers.CharField(max_length=64)
    new_barcode = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    new_track = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class LoginRequestIn(serializers.Serializer):
    phone = serializers.CharField(max_length=32)


class LoginConfirmIn(LoginRequestIn):
    code = serializers.CharField(max_length=12)
    device = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SearchIn(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="Phone, email, card number, barcode, track, external UID, #id or last name.")
    kind = serializers.ChoiceField(choices=IDENTIFIER_KIND_CHOICES, default="any")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


# --- purchases ----------------------------------------------------------------------------------

@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):
    """`YYYY-MM-DD` (a UTC day) or an ISO 8601 date-time."""

    def to_internal_value(self, data):
        text = str(data).strip()
        parsed = None
        try:
            # A bare date stays a date (parse_datetime would read it as midnight).
            parsed = parse_date(text) if len(text) == 10 else parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise serializers.ValidationError("Use YYYY-MM-DD or an ISO 8601 date-time.")
        return parsed

    def to_representation(self, value):
        return value.isoformat()


class PurchaseFilterIn(serializers.Serializer):
    date_from = DateOrDateTimeField(required=False, help_text="From this UTC day or moment.")
    date_to = DateOrDateTimeField(required=False, help_text="Until this moment, or through this whole UTC day.")
    store = serializers.IntegerField(required=False, help_text="Store id.")
    number = serializers.CharField(max_length=64, required=False, help_text="Cheque number.")
    card = serializers.IntegerField(required=False, help_text="Card id.")
    card_number = serializers.CharField(max_length=64, required=False)
    customer = serializers.IntegerField(required=False, help_text="Customer id.")
    state = serializers.ChoiceField(choices=Purchase.State.choices, required=False)
    kind = serializers.ChoiceField(choices=Purchase.Kind.choices, required=False)


class PurchaseOut(serializers.ModelSerializer):
    store = serializers.SerializerMethodField()
    till = serializers.CharField(source="till.code", read_only=True)
    card = serializers.CharField(source="card.number", read_only=True, default=None)

    class Meta:
        model = Purchase
        fields = ("id", "number", "kind", "state", "purchased_at", "offline", "store", "till", "card", "customer_id",
                  "amount", "discount", "bonus_accrued", "bonus_paid", "confirmed_at")

    def get_store(self, obj: Purchase) -> dict:
        return {"id": obj.store_id, "code": obj.store.code, "name": obj.store.name}


class PurchaseLineOfferOut(serializers.ModelSerializer):
    class Meta:
        model = PurchaseLineOffer
        fields = ("offer_id", "offer_name", "effect", "value")


class PurchaseLineOut(serializers.ModelSerializer):
    offers = PurchaseLineOfferOut(many=True, read_only=True)

    class Meta:
        model = PurchaseLine
        fields = ("position", "sku", "name", "quantity", "price", "amount", "discount", "bonus_accrued", "bonus_paid",
                  "refunded_quantity", "offers")


class PurchaseDetailOut(PurchaseOut):
    lines = PurchaseLineOut(many=True, read_only=True)

    class Meta(PurchaseOut.Meta):
        fields = (*PurchaseOut.Meta.fields, "original_id", "lines")
