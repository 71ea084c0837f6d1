from django.urls import path

from attributes.api import views

app_name = "attributes"
urlpatterns = [
    path("me/questionnaire", views.MyQuestionnaireView.as_view(), name="my-questionnaire"),
    path("questionnaire", views.QuestionnaireView.as_view(), name="questionnaire"),
    path("attributes/", views.AttributeListView.as_view(), name="attribute-list"),
    path("counters/", views.CounterListView.as_view(), name="counter-list"),
    path("counters/<slug:code>/recalculate", views.CounterRecalculateView.as_view(), name="counter-recalculate"),
    path("customers/<int:customer_id>/questionnaire", views.CustomerQuestionnaireView.as_view(), name="customer-questionnaire"),
    path("customers/<int:customer_id>/attributes", views.CustomerAttributesView.as_view(), name="customer-attributes"),
    path("customers/<int:customer_id>/counters", views.CustomerCountersView.as_view(), name="customer-counters"),
]
