from django.urls import path

from processing.api import views

app_name = "processing"
urlpatterns = [
    path("pos/balance", views.BalanceView.as_view(), name="pos-balance"),
    path("pos/calculate", views.CalculateView.as_view(), name="pos-calculate"),
    path("pos/confirm", views.ConfirmView.as_view(), name="pos-confirm"),
    path("pos/cancel", views.CancelView.as_view(), name="pos-cancel"),
    path("pos/refund", views.RefundView.as_view(), name="pos-refund"),
    path("pos/offline", views.OfflineView.as_view(), name="pos-offline"),
    path("me/qr", views.MyQrView.as_view(), name="my-qr"),
]
