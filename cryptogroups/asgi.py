"""ASGI entry point: ``cryptogroups.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptogroups.settings")

application = get_asgi_application()
