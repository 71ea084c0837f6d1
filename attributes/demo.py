"""Demo: a questionnaire (children, pets, favourite category), generic and notifier attributes,
counters (spend in the last 365 days, visits this month), three demo customers with answers,
and CSV files in attributes/demo_files/ to upload in the admin (Import jobs -> Add)."""
from __future__ import annotations

import datetime as dt

from attributes.models import Attribute, Counter, Question, QuestionGroup, Questionnaire
from attributes.services import answers_update, attribute_values_set, counter_recalculate_now, questionnaire_sync
from core.actors import Actor
from crm.models import Customer

DEMO = Actor.system("demo")
CATEGORIES = [{"code": c, "label": c.title()} for c in ("dairy", "bakery", "grocery", "sweets", "alcohol", "kids")]


def _questionnaire() -> Questionnaire:
    questionnaire, _ = Questionnaire.objects.get_or_create(
        code="main", defaults={"name": "About you", "description": "Tell us about your family and what you like."})
    top = [
        ("favourite_category", "Favourite category", Question.Type.SINGLE_CHOICE, True, {"options": CATEGORIES}),
        ("household", "People in your household", Question.Type.NUMBER, False, {"min_value": 1, "max_value": 20}),
        ("interests", "Interests", Question.Type.MULTIPLE_CHOICE, False,
         {"options": ["cooking", "sport", "travel", "gardening"], "max_choices": 3}),
        ("work_email", "Work email", Question.Type.EMAIL, False, {}),
    ]
    for position, (code, label, kind, required, extra) in enumerate(top, start=1):
        Question.objects.get_or_create(questionnaire=questionnaire, group=None, code=code, defaults={
            "label": label, "type": kind, "required": required, "position": position, **extra})
    children, _ = QuestionGroup.objects.get_or_create(questionnaire=questionnaire, code="children", defaults={
        "name": "Children", "position": 10, "max_items": 10})
    for position, (code, label, kind, required, extra) in enumerate([
        ("name", "Name", Question.Type.TEXT, True, {"max_length": 50}),
        ("birth_date", "Birth date", Question.Type.DATE, True, {"not_in_future": True, "min_date": dt.date(1950, 1, 1)}),
        ("sex", "Sex", Question.Type.SINGLE_CHOICE, False, {"options": [{"code": "male", "label": "Boy"},
                                                                         {"code": "female", "label": "Girl"}]}),
    ], start=1):
        Question.objects.get_or_create(questionnaire=questionnaire, group=children, code=code, defaults={
            "label": label, "type": kind, "required": required, "position": position, **extra})
    pets, _ = QuestionGroup.objects.get_or_create(questionnaire=questionnaire, code="pets", defaults={
        "name": "Pets", "position": 11, "max_items": 5})
    for position, (code, label, kind, required, extra) in enumerate([
        ("kind", "Animal", Question.Type.SINGLE_CHOICE, True, {"options": ["cat", "dog", "bird", "other"]}),
        ("name", "Name", Question.Type.TEXT, False, {"max_length": 50}),
    ], start=1):
        Question.objects.get_or_create(questionnaire=questionnaire, group=pets, code=code, defaults={
            "label": label, "type": kind, "required": required, "position": position, **extra})
    questionnaire_sync(questionnaire=questionnaire, actor=DEMO)
    return questionnaire


def _attributes() -> list[Counter]:
    for code, name, value_type, options in (
        ("vip", "VIP customer", Attribute.ValueType.BOOLEAN, []),
        ("shoe_size", "Shoe size", Attribute.ValueType.INTEGER, []),
        ("clothing_size", "Clothing size", Attribute.ValueType.CHOICE, ["S", "M", "L", "XL"]),
        ("first_purchase", "First purchase (old system)", Attribute.ValueType.DATE, []),
    ):
        Attribute.objects.get_or_create(code=code, defaults={"name": name, "kind": Attribute.Kind.GENERIC,
                                                             "value_type": value_type, "options": options})
    for kind in ("phone", "email"):
        Attribute.objects.get_or_create(code=f"contact_{kind}", defaults={
            "name": f"Contact: {kind}", "kind": Attribute.Kind.NOTIFIER, "notifier_kind": kind})
    spend, _ = Counter.objects.get_or_create(code="spend-365", defaults={
        "name": "Spend in the last 365 days", "aggregate": Counter.Aggregate.SUM, "period": Counter.Period.ROLLING,
        "period_days": 365})
    visits, _ = Counter.objects.get_or_create(code="visits-month", defaults={
        "name": "Purchases this month", "aggregate": Counter.Aggregate.COUNT, "period": Counter.Period.MONTH})
    for counter in (spend, visits):
        Attribute.objects.get_or_create(code=counter.code, defaults={
            "name": counter.name, "kind": Attribute.Kind.COUNTER, "counter": counter})
    return [spend, visits]


DEMO_CUSTOMERS = [
    ("demo-001", "Olga", "Smirnova", {"favourite_category": "kids", "household": 4, "interests": ["cooking", "travel"],
     "children": [{"name": "Masha", "birth_date": "2014-05-20", "sex": "female"},
                  {"name": "Petya", "birth_date": "2011-12-30", "sex": "male"}],
     "pets": [{"kind": "cat", "name": "Murka"}]}, {"vip": True, "shoe_size": 38, "clothing_size": "M"}),
    ("demo-002", "Ivan", "Petrov", {"favourite_category": "grocery", "household": 1, "interests": ["sport"],
     "pets": [{"kind": "dog", "name": "Rex"}, {"kind": "bird"}]}, {"shoe_size": 44}),
    ("demo-003", "Anna", "Kuznetsova", {"favourite_category": "dairy", "children": [
        {"name": "Lev", "birth_date": "2022-01-03"}]}, {"clothing_size": "S", "first_purchase": "2015-03-08"}),
]


def load() -> str:
    _questionnaire()
    counters = _attributes()
    for uid, first, last, answers, values in DEMO_CUSTOMERS:
        customer, _ = Customer.objects.get_or_create(external_uid=uid, defaults={
            "first_name": first, "last_name": last, "state": Customer.State.REGISTERED,
            "registration_channel": Customer.Channel.ADMIN})
        answers_update(customer_id=customer.pk, answers=answers, actor=DEMO)
        attribute_values_set(customer_id=customer.pk, values=values, actor=DEMO)
    for counter in counters:
        counter_recalculate_now(counter_id=counter.pk)
    return (f"questionnaire with {Question.objects.count()} questions, {Attribute.objects.count()} attributes, "
            f"{Counter.objects.count()} counters, {len(DEMO_CUSTOMERS)} customers with answers; "
            "CSV files to upload in attributes/demo_files/")
