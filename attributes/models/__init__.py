from attributes.models.counters import CountedPurchase, Counter, CounterValue
from attributes.models.definitions import Attribute
from attributes.models.questionnaire import Question, QuestionGroup, Questionnaire
from attributes.models.values import AttributeValue, GroupItem

__all__ = [
    "Attribute",
    "AttributeValue",
    "CountedPurchase",
    "Counter",
    "CounterValue",
    "GroupItem",
    "Question",
    "QuestionGroup",
    "Questionnaire",
]
