"""The gunicorn and ``flask --app wsgi`` target."""

from service import create_app

app = create_app()
