from django.urls import path

from statuses.api.views import (
    CustomerStatusAssignView,
    CustomerStatusesView,
    CustomerStatusHistoryView,
    MeStatusesView,
    StatusSystemListView,
    StatusSystemRecalculateView,
    StatusSystemRunsView,
)

app_name = "statuses"
urlpatterns = [
    path("me/statuses", MeStatusesView.as_view(), name="me-statuses"),
    path("customers/<int:customer_id>/statuses", CustomerStatusesView.as_view(), name="customer-statuses"),
    path("customers/<int:customer_id>/statuses/history", CustomerStatusHistoryView.as_view(),
         name="customer-status-history"),
    path("customers/<int:customer_id>/statuses/<slug:system>", CustomerStatusAssignView.as_view(),
         name="customer-status-assign"),
    path("status-systems", StatusSystemListView.as_view(), name="system-list"),
    path("status-systems/<slug:code>/recalculate", StatusSystemRecalculateView.as_view(), name="system-recalculate"),
    path("status-systems/<slug:code>/runs", StatusSystemRunsView.as_view(), name="system-runs"),
]
