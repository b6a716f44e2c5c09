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
