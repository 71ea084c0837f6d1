from django.urls import path

from core.api.imports import ImporterListView, ImportJobDetailView, ImportJobListCreateView, ImportJobReportView

urlpatterns = [
    path("imports/kinds", ImporterListView.as_view(), name="import-kinds"),
    path("imports/", ImportJobListCreateView.as_view(), name="import-list"),
    path("imports/<int:pk>", ImportJobDetailView.as_view(), name="import-detail"),
    path("imports/<int:pk>/report", ImportJobReportView.as_view(), name="import-report"),
]
