"""WSGI entry point: ``cryptogroups.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptogroups.settings")

application = get_wsgi_application()
