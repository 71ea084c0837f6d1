from django.urls import path

from offers.api import views

app_name = "offers"
urlpatterns = [
    # operators
    path("offers/", views.OfferListView.as_view(), name="offer-list"),
    path("offers/<int:pk>/", views.OfferDetailView.as_view(), name="offer-detail"),
    path("offers/<int:pk>/dry-run/", views.OfferDryRunView.as_view(), name="offer-dry-run"),
    path("coupons/<str:code>/", views.CouponLookupView.as_view(), name="coupon-lookup"),
    path("coupon-issues/<int:pk>/", views.CouponIssueDetailView.as_view(), name="coupon-issue-detail"),
    path("coupon-issues/<int:pk>/batches/", views.CouponBatchView.as_view(), name="coupon-issue-batch"),
    path("customers/<int:customer_id>/personal-products/", views.CustomerPersonalProductsView.as_view(),
         name="customer-personal-products"),
    path("customers/<int:customer_id>/personal-products/<int:set_id>/", views.CustomerPersonalChoiceView.as_view(),
         name="customer-personal-choice"),
    # the customer app (`Customer <token>`)
    path("me/coupons/", views.MyCouponsView.as_view(), name="my-coupons"),
    path("me/personal-products/", views.MyPersonalProductsView.as_view(), name="my-personal-products"),
    path("me/personal-products/<int:set_id>/", views.MyPersonalChoiceView.as_view(), name="my-personal-choice"),
]
