"""Options shared by subcommands and the settings they produce."""

from __future__ import annotations

import argparse

from ..settings import Settings


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """--bootstrap and --topic-prefix, overriding DISPATCHBUS_* settings."""
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: from settings)")
    parser.add_argument("--topic-prefix", metavar="PREFIX", help="prefix of every catalogue topic (default: from settings)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with command-line overrides applied."""
    settings = Settings()
    if getattr(args, "bootstrap", None):
        settings.kafka.bootstrap_servers = args.bootstrap
    if getattr(args, "topic_prefix", None) is not None:
        settings.topics.prefix = args.topic_prefix
    return settings


def add_worker_arg(parser: argparse.ArgumentParser) -> None:
    """--worker URL: the web address of a running worker."""
    parser.add_argument("--worker", default=None, metavar="URL", help="worker web address (default: from settings)")


def worker_url(args: argparse.Namespace, settings: Settings) -> str:
    """The worker's web address: --worker, else the settings' host and port."""
    return args.worker or f"http://{settings.worker.web_host}:{settings.worker.web_port}"


class WorkerViewError(Exception):
    """A worker view could not be read; the message says why, for the command's user."""


def get_json(url: str, settings: Settings) -> dict:
    """GET a JSON document from a worker view with the settings' web token, or raise :class:`WorkerViewError`."""
    import json
    import urllib.error
    import urllib.request

    from ..web_access import auth_headers

    token = settings.worker.web_token.get_secret_value() if settings.worker.web_token else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=auth_headers(token)), timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise WorkerViewError(f"{exc.code} {json.loads(exc.read() or b'{}').get('error', exc.reason)}") from None
    except OSError as exc:
        base = url.split("/", 3)[:3]
        raise WorkerViewError(f"cannot reach the worker at {'/'.join(base)}: {exc}") from None
