from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from attributes.models import Attribute, Counter, Question, QuestionGroup, Questionnaire
from attributes.services.definitions import questionnaire_sync
from core.actors import Actor
from crm.models import Purchase, PurchaseLine
from tests.factories.catalogue import ProductFactory, TillFactory


class AttributeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attribute
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"attr-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = Attribute.Kind.GENERIC
    value_type = Attribute.ValueType.STRING


class QuestionnaireFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Questionnaire
        django_get_or_create = ("code",)

    code = "main"
    name = "Tell us about yourself"
    is_active = True


class QuestionGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuestionGroup

    questionnaire = factory.SubFactory(QuestionnaireFactory)
    code = factory.Sequence(lambda n: f"group{n}")
    name = factory.Sequence(lambda n: f"Group {n}")
    max_items = 10


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    questionnaire = factory.SubFactory(QuestionnaireFactory)
    code = factory.Sequence(lambda n: f"q{n}")
    label = factory.Sequence(lambda n: f"Question {n}")
    type = Question.Type.TEXT


def family_questionnaire() -> Questionnaire:
    """Favourite category (single choice, required), nickname (text, pattern), pet count (number),
    email, phone, interests (multiple); children (name and birth date required, sex optional);
    cars (brand, year)."""
    questionnaire = QuestionnaireFactory()
    QuestionFactory(questionnaire=questionnaire, code="favourite_category", label="Favourite category",
                    type=Question.Type.SINGLE_CHOICE, required=True, position=1,
                    options=[{"code": "dairy", "label": "Dairy"}, {"code": "kids", "label": "Kids"}, "coffee"])
    QuestionFactory(questionnaire=questionnaire, code="nickname", label="Nickname", type=Question.Type.TEXT,
                    min_length=2, max_length=20, pattern=r"[A-Za-z]+", pattern_message="Latin letters only.", position=2)
    QuestionFactory(questionnaire=questionnaire, code="household", label="People at home", type=Question.Type.NUMBER,
                    min_value=Decimal(1), max_value=Decimal(20), position=3)
    QuestionFactory(questionnaire=questionnaire, code="work_email", label="Work email", type=Question.Type.EMAIL, position=4)
    QuestionFactory(questionnaire=questionnaire, code="second_phone", label="Second phone", type=Question.Type.PHONE, position=5)
    QuestionFactory(questionnaire=questionnaire, code="interests", label="Interests", type=Question.Type.MULTIPLE_CHOICE,
                    options=["sport", "cooking", "travel"], max_choices=2, position=6)
    QuestionFactory(questionnaire=questionnaire, code="wedding_day", label="Wedding day", type=Question.Type.DATE,
                    not_in_future=True, position=7, editable_by_customer=False)
    children = QuestionGroupFactory(questionnaire=questionnaire, code="children", name="Children", max_items=5, position=10)
    QuestionFactory(questionnaire=questionnaire, group=children, code="name", label="Name", required=True, max_length=50)
    QuestionFactory(questionnaire=questionnaire, group=children, code="birth_date", label="Birth date",
                    type=Question.Type.DATE, required=True, not_in_future=True, min_date=dt.date(1950, 1, 1))
    QuestionFactory(questionnaire=questionnaire, group=children, code="sex", label="Sex",
                    type=Question.Type.SINGLE_CHOICE, options=["male", "female"])
    cars = QuestionGroupFactory(questionnaire=questionnaire, code="cars", name="Cars", max_items=3, position=11)
    QuestionFactory(questionnaire=questionnaire, group=cars, code="brand", label="Brand", required=True)
    QuestionFactory(questionnaire=questionnaire, group=cars, code="year", label="Year", type=Question.Type.NUMBER,
                    min_value=Decimal(1950), max_value=Decimal(2100))
    questionnaire_sync(questionnaire=questionnaire, actor=Actor.system("test"))
    return questionnaire


class CounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Counter

    code = factory.Sequence(lambda n: f"counter-{n}")
    name = factory.Sequence(lambda n: f"Counter {n}")
    aggregate = Counter.Aggregate.SUM
    period = Counter.Period.ALL_TIME
    timezone = "UTC"


def purchase_make(*, customer, amount: str | Decimal = "100.00", discount: str | Decimal = "0", at: dt.datetime | None = None,
                  state: str = Purchase.State.CONFIRMED, till=None, products=None, kind: str = Purchase.Kind.SALE,
                  original: Purchase | None = None, number: str | None = None) -> Purchase:
    """A cheque with one line per product (amount split evenly) straight in the table, as
    processing would leave it. `products` None = one line of a fresh product."""
    till = till or (original.till if original else TillFactory())
    at = at or timezone.now()
    amount, discount = Decimal(amount), Decimal(discount)
    products = products or [ProductFactory()]
    purchase = Purchase.objects.create(
        till=till, store=till.store, number=number or f"P{Purchase.objects.count() + 1}-{timezone.now().timestamp()}",
        kind=kind, original=original, customer=customer, state=state, purchased_at=at, amount=amount, discount=discount,
        confirmed_at=at if state == Purchase.State.CONFIRMED else None,
    )
    share, dshare = amount / len(products), discount / len(products)
    PurchaseLine.objects.bulk_create([
        PurchaseLine(purchase=purchase, position=i + 1, product=p, sku=p.sku, quantity=Decimal(1), price=share,
                     amount=share, discount=dshare)
        for i, p in enumerate(products)
    ])
    return purchase
