"""The outside of trustledger: the command line (and, later, the HTTP API and web pages)."""
