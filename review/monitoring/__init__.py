"""Monitoring across reports, on the reviewer's machine: overview, exports, Uwazi, corroboration.

Everything here works on reports already decrypted in this process (see collect.py); nothing is
sent to the server, and the only thing written to disk unasked is a cache sealed to the
reviewer's own key (cache.py). Exports write plaintext only where the reviewer says.
"""
