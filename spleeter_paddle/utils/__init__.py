"""Spleeter's ``spleeter.utils`` names: ``configuration.load_configuration`` and
``logging.configure_logger`` / ``logging.logger``."""
