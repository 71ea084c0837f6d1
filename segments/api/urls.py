"""Segments and RFM under /api/v1/ (operators)."""
from django.urls import path

from segments.api import views as v

app_name = "segments"
urlpatterns = [
    path("segments", v.SegmentListView.as_view(), name="segment-list"),
    path("segments/preview", v.PreviewView.as_view(), name="segment-preview"),
    path("segments/condition-kinds", v.ConditionKindsView.as_view(), name="segment-condition-kinds"),
    path("segments/rfm", v.RfmMatrixView.as_view(), name="rfm-matrix"),
    path("segments/rfm/settings", v.RfmSettingsView.as_view(), name="rfm-settings"),
    path("segments/rfm/recompute", v.RfmRecomputeView.as_view(), name="rfm-recompute"),
    path("segments/<int:pk>", v.SegmentDetailView.as_view(), name="segment-detail"),
    path("segments/<int:pk>/refresh", v.RefreshView.as_view(), name="segment-refresh"),
    path("segments/<int:pk>/members", v.MembersView.as_view(), name="segment-members"),
    path("segments/<int:pk>/members/add", v.MembersChangeView.as_view(add=True), name="segment-members-add"),
    path("segments/<int:pk>/members/remove", v.MembersChangeView.as_view(add=False), name="segment-members-remove"),
    path("segments/<int:pk>/members/upload", v.UploadView.as_view(), name="segment-members-upload"),
    path("segments/<int:pk>/export", v.ExportView.as_view(), name="segment-export"),
    path("segments/<int:pk>/refreshes", v.RefreshListView.as_view(), name="segment-refreshes"),
    path("segments/<int:pk>/refreshes/<int:refresh_id>", v.RefreshDetailView.as_view(), name="segment-refresh-detail"),
    path("customers/<int:customer_id>/segments", v.CustomerSegmentsView.as_view(), name="customer-segments"),
]
