"""gunicorn settings, read from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``)."""

import gc
import multiprocessing
import os

# BIND wins; otherwise PORT on all interfaces (as platforms that set PORT expect); otherwise loopback.
bind = os.environ.get("BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count() + 1)
# A request (an argon2 hash, an image re-encode) that takes longer than this is killed and logged.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
# The service writes its own access log: one JSON line per request on stdout, with the request id,
# the GraphQL operation and the user. gunicorn's plain access log is off unless asked for.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
# Load the app before forking, so a broken setting stops the master at once with a clear message.
preload_app = True


def when_ready(server) -> None:
    """With the app loaded (preload_app), move everything it made at start-up (the schema, the
    password and confusables lists, SQLAlchemy's metadata) out of the garbage collector's sight:
    full collections in the workers then skip them, and forked workers share those pages longer."""
    gc.collect()
    gc.freeze()


def post_worker_init(worker) -> None:
    """Each worker delivers the mail outbox from a thread of its own (unless MAIL_SENDER=cron),
    started here, so the hook that would start it on a request (for other servers) is taken out."""
    from service.mail import start_sender, start_sender_here

    if hasattr(worker.wsgi, "config"):  # the service, not some other app served with this file
        start_sender(worker.wsgi)
        hooks = worker.wsgi.before_request_funcs.get(None, [])
        if start_sender_here in hooks:
            hooks.remove(start_sender_here)


def worker_exit(server, worker) -> None:
    """A worker that stops lets its mail sender finish the message in hand (a killed one cannot:
    that message's lease runs out and another sender takes it)."""
    from service.mail import stop_sender

    stop_sender(timeout=5)
