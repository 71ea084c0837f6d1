"""Demo partner, stores in two time zones, tills with known demo secrets, a small catalogue."""
from __future__ import annotations

from decimal import Decimal

from catalogue.models import Partner, Product, ProductGroup, ProductGroupMembership, Store, Till
from catalogue.services import hash_secret

# Demo till credentials are fixed so the README can show a working curl; real tills get random ones.
DEMO_TILLS = (("msk-01", "1", "demo-till-msk-01", "demo-secret-msk-01"), ("nsk-01", "1", "demo-till-nsk-01", "demo-secret-nsk-01"))

PRODUCTS = [
    ("MILK-1L", "Milk 1 l", "79.90", "dairy", "Prostokvashino"),
    ("KEFIR-1L", "Kefir 1 l", "89.90", "dairy", "Prostokvashino"),
    ("CHEESE-200", "Cheese 200 g", "249.00", "dairy", "Hochland"),
    ("BREAD-W", "White bread", "49.90", "bakery", "Karavai"),
    ("COFFEE-250", "Coffee beans 250 g", "499.00", "grocery", "Lavazza"),
    ("TEA-100", "Black tea 100 bags", "329.00", "grocery", "Greenfield"),
    ("CHOC-90", "Dark chocolate 90 g", "119.00", "sweets", "Alpen Gold"),
    ("WINE-RED", "Red wine 0.75 l", "899.00", "alcohol", "Massandra"),
    ("DIAPER-M", "Diapers M 60 pcs", "1299.00", "kids", "Pampers"),
    ("TOY-CAR", "Toy car", "599.00", "kids", "Hot Wheels"),
]


def load() -> str:
    partner, _ = Partner.objects.get_or_create(code="demo-retail", defaults={"name": "Demo Retail"})
    stores = {}
    for code, name, tz in (("msk-01", "Moscow, Tverskaya 1", "Europe/Moscow"), ("nsk-01", "Novosibirsk, Lenina 5", "Asia/Novosibirsk")):
        stores[code], _ = Store.objects.get_or_create(partner=partner, code=code, defaults={"name": name, "timezone": tz})
    for store_code, till_code, key, secret in DEMO_TILLS:
        Till.objects.get_or_create(
            api_key=key, defaults={"store": stores[store_code], "code": till_code, "name": f"Till {till_code}", "secret_hash": hash_secret(secret)}
        )
    groups = {}
    for code, name, cats in (("dairy", "Dairy", ["dairy"]), ("kids", "Kids", ["kids"]), ("coffee-tea", "Coffee and tea", [])):
        groups[code], _ = ProductGroup.objects.get_or_create(
            code=code, defaults={"name": name, "kind": ProductGroup.Kind.RULE if cats else ProductGroup.Kind.LISTED, "rule_categories": cats}
        )
    for sku, name, price, category, brand in PRODUCTS:
        product, _ = Product.objects.get_or_create(sku=sku, defaults={"name": name, "price": Decimal(price), "category": category, "brand": brand})
        for group in groups.values():
            if category in group.rule_categories or (group.code == "coffee-tea" and sku in ("COFFEE-250", "TEA-100")):
                ProductGroupMembership.objects.get_or_create(group=group, product=product)
    return f"{Partner.objects.count()} partner, {Store.objects.count()} stores, {Till.objects.count()} tills, {Product.objects.count()} products"
