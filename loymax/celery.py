"""The Celery application. Tasks live in each app's tasks.py and are thin wrappers of services."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loymax.settings")

app = Celery("loymax")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
