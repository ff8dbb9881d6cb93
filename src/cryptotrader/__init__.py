"""CryptoTrader Pro: a self-hostable crypto paper-trading platform on PostgreSQL."""

__version__ = "0.1.0"
