from django.urls import path

from crm.api.ledger_views import AccountDetailView, AccountListView, AdjustmentView, ReversalView, StatementView

urlpatterns = [
    path("accounts/", AccountListView.as_view(), name="account-list"),
    path("accounts/<int:pk>", AccountDetailView.as_view(), name="account-detail"),
    path("accounts/<int:pk>/statement", StatementView.as_view(), name="account-statement"),
    path("ledger/adjustments", AdjustmentView.as_view(), name="ledger-adjustment"),
    path("ledger/entries/<int:pk>/reversal", ReversalView.as_view(), name="ledger-reversal"),
]
