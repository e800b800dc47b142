from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "exoderm.products"
    label = "products"
