"""Chain of custody of access: every decryption, download and export of an item is an audit
entry, and an export carries the chain of its report's entries, each checkable on its own.

- `access`: what the reviewer tools record (opened, downloaded, exported) and how.
- `chain`: which audit entries belong to a report, and the bundle files that carry them.
- `verify`: checks of those files, `(folder) -> [(file name, problem)]`, for `intake verify`.

Import the submodules themselves: the backends import `access` and `chain`, and `verify` uses
the review tools, so this package imports nothing on its own (no import cycle).
"""
