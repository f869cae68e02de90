"""Stand-in of logger/__init__.py and logger/logger.py (PluginLogger, exported as `log`) of the
Canvas SDK 0.203.0: the same methods, writing to the same `plugin_runner_logger` logger."""

import logging


class PluginLogger:
    """A custom logger for plugins."""

    def __init__(self):
        self.logger = logging.getLogger("plugin_runner_logger")
        self.logger.setLevel(logging.INFO)

    def debug(self, message, *args, **kwargs):
        self.logger.debug(message, *args, **kwargs)

    def info(self, message, *args, **kwargs):
        self.logger.info(message, *args, **kwargs)

    def warning(self, message, *args, **kwargs):
        self.logger.warning(message, *args, **kwargs)

    def error(self, message, *args, **kwargs):
        self.logger.error(message, *args, **kwargs)

    def exception(self, message, *args, **kwargs):
        self.logger.exception(message, *args, **kwargs)

    def critical(self, message, *args, **kwargs):
        self.logger.critical(message)


log = PluginLogger()

__all__ = ("log",)
