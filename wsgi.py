"""The gunicorn and ``flask --app wsgi`` target.

A bad setting stops every command with one line naming it, and exit status 1, not a traceback.
"""

import sys

from service import create_app
from service.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"Error: {error}")
