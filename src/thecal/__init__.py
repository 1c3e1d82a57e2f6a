"""thecal: an open-source intrathecal drug-delivery system. Not a medical device."""

__version__ = "0.1.0"
