"""Customer-side endpoints under /api/v1/: operators (customers, contacts, cards, purchases) and the customer app."""
from django.urls import path

from crm.api import app_views, customer_views as v, purchase_views

urlpatterns = [
    # Operators: customers and contacts
    path("customers/search", v.CustomerSearchView.as_view(), name="customer-search"),
    path("customers", v.CustomerCreateView.as_view(), name="customer-create"),
    path("customers/<int:pk>", v.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<int:pk>/block", v.CustomerBlockView.as_view(block=True), name="customer-block"),
    path("customers/<int:pk>/unblock", v.CustomerBlockView.as_view(block=False), name="customer-unblock"),
    path("customers/<int:pk>/merge", v.CustomerMergeView.as_view(), name="customer-merge"),
    path("customers/<int:pk>/notifiers", v.CustomerNotifierView.as_view(), name="customer-notifiers"),
    path("customers/<int:customer_id>/purchases", purchase_views.PurchaseListView.as_view(), name="customer-purchases"),
    path("notifiers/<int:pk>", v.NotifierView.as_view(), name="notifier-detail"),
    path("notifiers/<int:pk>/verification-request", v.NotifierCodeRequestView.as_view(), name="notifier-code-request"),
    path("notifiers/<int:pk>/verification-confirm", v.NotifierCodeConfirmView.as_view(), name="notifier-code-confirm"),
    path("verification-codes/last", v.LastCodeView.as_view(), name="verification-code-last"),
    # Operators: cards
    path("cards", v.CardIssueView.as_view(), name="card-issue"),
    path("cards/<int:pk>", v.CardDetailView.as_view(), name="card-detail"),
    path("cards/<int:pk>/bind", v.card_action_view("bind", "Give the card to a customer"), name="card-bind"),
    path("cards/<int:pk>/activate", v.card_action_view("activate", "Activate: the card may spend"), name="card-activate"),
    path("cards/<int:pk>/block", v.card_action_view("block", "Block with a reason"), name="card-block"),
    path("cards/<int:pk>/unblock", v.card_action_view("unblock", "Unblock with a reason"), name="card-unblock"),
    path("cards/<int:pk>/replace", v.card_action_view("replace", "Replace by another card; the balance follows"),
         name="card-replace"),
    # Operators: purchase history
    path("purchases", purchase_views.PurchaseListView.as_view(), name="purchase-list"),
    path("purchases/<int:pk>", purchase_views.PurchaseDetailView.as_view(), name="purchase-detail"),
    # The customer app
    path("auth/login/request", app_views.LoginRequestView.as_view(), name="app-login-request"),
    path("auth/login/confirm", app_views.LoginConfirmView.as_view(), name="app-login-confirm"),
    path("auth/logout", app_views.LogoutView.as_view(), name="app-logout"),
    path("me", app_views.MeView.as_view(), name="me"),
    path("me/contacts/change-request", app_views.MeContactChangeRequestView.as_view(), name="me-contact-change-request"),
    path("me/contacts/change-confirm", app_views.MeContactChangeConfirmView.as_view(), name="me-contact-change-confirm"),
    path("me/purchases", app_views.MePurchasesView.as_view(), name="me-purchases"),
]
