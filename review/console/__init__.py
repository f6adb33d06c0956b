"""`intake review console`: the reviewer's web page, served by and for this machine only.

It listens on 127.0.0.1, decrypts in this process with the identity unlocked at start, and talks
to the server through a ReviewBackend, so the server still sees only ciphertext and metadata.
Only the browser that opened the URL printed at start may use it (security.py says how), every
page forbids scripts, framing and caching, and attachments are shown inline only for a short
list of image, audio and video types (media.py).
"""

from review.console.security import BindAddressError, check_bind_host
from review.console.server import Console

__all__ = ["BindAddressError", "Console", "check_bind_host"]
