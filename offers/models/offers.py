"""Offers (promotions) and their rules.

A rule's filters and actions are typed JSON: a list of objects, each with a `type` whose
parameters are declared once in offers.engine (filters.py, actions.py) and validated by
`Rule.clean` and the services. One row per rule keeps a rule atomic (copied, reordered, audited
as a whole) and lets the compiler read every offer of the program in two queries.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from offers.engine.compile import validate_rule

MONEY = {"max_digits": 14, "decimal_places": 2}


class Offer(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        PAUSED = "paused"
        FINISHED = "finished"

    class Event(models.TextChoices):
        # Keep in step with offers.engine.types.EVENTS (a test checks it).
        PURCHASE = "purchase"
        REGISTRATION = "registration"
        BIRTHDAY = "birthday"
        QUESTIONNAIRE = "questionnaire"
        STATUS_CHANGE = "status_change", "status change"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT, editable=False,
                             help_text="Changed by the actions activate / pause / finish, never by hand.")
    event = models.CharField(max_length=24, choices=Event.choices, default="purchase",
                             help_text="When the offer is evaluated: at a purchase, or on a member event.")
    start_date = models.DateField(help_text="First day, in the store's local time.")
    end_date = models.DateField(null=True, blank=True, help_text="Last day (included); empty: open-ended.")
    partners = models.ManyToManyField("catalogue.Partner", blank=True, related_name="offers",
                                      help_text="Partners (with the same assortment) it serves; none: every partner.")
    stores = models.ManyToManyField("catalogue.Store", blank=True, related_name="offers",
                                    help_text="Stores it runs in; none: every store of its partners.")
    priority = models.IntegerField(default=0, help_text="Higher first. Among non-cumulative offers it decides "
                                                        "which one a line gets.")
    cumulative = models.BooleanField(default=False, help_text="Cumulative offers apply on top of the others; "
                                                              "non-cumulative ones compete: at most one per line.")
    exclusive = models.BooleanField(default=False, help_text="Exclusive: once it applies to a line, later offers "
                                                             "do not apply to that line (no chaining).")
    limit_per_customer = models.PositiveIntegerField(null=True, blank=True,
                                                     help_text="Cheques per member over the offer's period.")
    max_benefit_per_cheque = models.DecimalField(null=True, blank=True, help_text="Most discount + points one "
                                                 "cheque may get from this offer.", **MONEY)
    budget = models.DecimalField(null=True, blank=True, help_text="Total discount + points over all cheques.",
                                 **MONEY)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-priority", "id")
        indexes = [models.Index(fields=["state", "event"], name="offer_state_event_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                                   name="offer_period_ordered"),
            models.CheckConstraint(condition=Q(budget__isnull=True) | Q(budget__gt=0), name="offer_budget_positive"),
            models.CheckConstraint(condition=Q(max_benefit_per_cheque__isnull=True) | Q(max_benefit_per_cheque__gt=0),
                                   name="offer_cheque_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    def clean(self) -> None:
        if self.end_date and self.start_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": "The offer cannot end before it starts."})


class Rule(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried in this order; a line goes to "
                                                                "the first rule that holds for it.")
    is_enabled = models.BooleanField(default=True)
    filters = models.JSONField(default=list, blank=True, help_text="All must hold. A list of {\"type\": ...}.")
    actions = models.JSONField(default=list, help_text="What the rule does. A list of {\"type\": ...}.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("offer_id", "position", "id")
        indexes = [models.Index(fields=["offer", "position"], name="rule_offer_position_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = validate_rule(self.filters, self.actions)
        if errors:
            grouped: dict[str, list[str]] = {}
            for field, message in errors:
                root = field.split(".", 1)[0]
                grouped.setdefault(root if root in ("filters", "actions") else "__all__", []).append(
                    f"{field}: {message}")
            raise ValidationError(grouped)
