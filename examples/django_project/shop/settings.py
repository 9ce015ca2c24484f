"""Settings of the example project: Django's session middleware, sessionary's engine.

``SESSIONARY_STORE_URL`` / ``SESSIONARY_SECRET_KEY`` from the environment pick
the store and the secret, so this project and the Starlette example can share
sessions (same store, same cookie name).
"""

import os

DEBUG = True
SECRET_KEY = os.environ.get("SESSIONARY_SECRET_KEY", "dev-only-secret-change-me-0123456789abcdef")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "shop.urls"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.messages",
]
MIDDLEWARE = [
    # Django's SessionMiddleware, answering 503 (not 500) when the session store is down.
    "sessionary.integrations.django.SessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# Sessions: Django's middleware and API, sessionary's store and record format.
SESSION_ENGINE = "sessionary.integrations.django"
SESSIONARY = {
    "store": os.environ.get("SESSIONARY_STORE_URL", "sqlite:///sessionary.db"),
    "secret_key": SECRET_KEY,
}
# Django's messages in the session: sessionary.messages reads the same format.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
            ],
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {
                        "index.html": (
                            "<!doctype html><title>sessionary on Django</title>"
                            '<ul class="messages">{% for m in messages %}'
                            '<li class="{{ m.tags }}">{{ m }}</li>{% endfor %}</ul>'
                            '<p>Hello {{ request.session.name|default:"stranger" }}, '
                            "visit {{ request.session.visits }}.</p>"
                        )
                    },
                )
            ],
        },
    }
]
