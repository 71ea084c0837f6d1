from __future__ import annotations

from django.db import models
from django.db.models import Q


class CardCategory(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "card categories"

    def __str__(self) -> str:
        return self.name


class CardGroup(models.Model):
    """A batch or family of cards (e.g. a print run), used for reporting and offers."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


class Card(models.Model):
    class State(models.TextChoices):
        NOT_ACTIVATED = "not_activated", "not activated"
        ACTIVE = "active"
        BLOCKED = "blocked"
        REPLACED = "replaced"

    class Kind(models.TextChoices):
        PHYSICAL = "physical"
        VIRTUAL = "virtual"

    number = models.CharField(max_length=32, unique=True)
    barcode = models.CharField(max_length=64, null=True, blank=True, unique=True)
    track = models.CharField(max_length=128, null=True, blank=True, unique=True, help_text="Magnetic track data.")
    customer = models.ForeignKey("crm.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="cards")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PHYSICAL)
    # Most cards have no category or group: indexed partially (Meta), not every NULL.
    category = models.ForeignKey(CardCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="cards",
                                 db_index=False)
    group = models.ForeignKey(CardGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="cards",
                              db_index=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.NOT_ACTIVATED)
    state_reason = models.CharField(max_length=300, blank=True)
    replaced_by = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces")
    accounts = models.ManyToManyField("crm.Account", through="CardAccount", related_name="cards", blank=True)
    issued_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("number",)
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="replaced") | Q(replaced_by__isnull=False), name="card_replaced_has_successor"
            ),
        ]
        indexes = [
            models.Index(fields=["category"], name="card_category_idx", condition=Q(category__isnull=False)),
            models.Index(fields=["group"], name="card_group_idx", condition=Q(group__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def can_accrue(self) -> bool:
        return self.state in (self.State.ACTIVE, self.State.NOT_ACTIVATED)

    @property
    def can_redeem(self) -> bool:
        return self.state == self.State.ACTIVE


class CardAccount(models.Model):
    """A card holds several accounts; an account may be shared by several cards."""

    # Indexed by card_account_unique (card, account) and card_account_by_account_idx (account, card):
    # a single-column index on either would only cost every insert (imports write millions).
    card = models.ForeignKey(Card, on_delete=models.CASCADE, db_index=False)
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["card", "account"], name="card_account_unique")]
        indexes = [models.Index(fields=["account", "card"], name="card_account_by_account_idx")]
