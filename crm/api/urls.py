from django.urls import include, path

# Two areas, two url modules, so they grow apart without stepping on each other.
urlpatterns = [
    path("", include("crm.api.customer_urls")),
    path("", include("crm.api.ledger_urls")),
]
