"""Why the database could not be opened, in one line that names the fix.

asyncpg and SQLAlchemy raise a different exception for each way PostgreSQL can refuse (no
server, no such role or database, a wrong password, missing privileges); each is recognised
by its SQLSTATE (PostgreSQL's error code) or its socket error and told as what to do, with the
user, host and database from the URL (never the password).
"""

from __future__ import annotations

import socket

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

_CREATE = "deploy/README.md, 'Creating the PostgreSQL role and database'"


def describe_database_error(error: BaseException, database_url: str) -> str | None:
    """The one line for a failure to open the database at `database_url`; None if unknown."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        if isinstance(error, OSError | DBAPIError):
            return (f"cannot open the SQLite database {url.database} "
                    f"({type(error).__name__}): check that its folder exists and is writable")
        return None
    user = url.username or "(the URL names no user)"
    database = url.database or user
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if isinstance(error, socket.gaierror):
        return (f"cannot resolve the database host {url.host!r}: fix the host name in the URL "
                "(in compose: the database service's name)")
    if isinstance(error, ConnectionRefusedError):
        return (f"no PostgreSQL server answers at {where} (connection refused): start it "
                "(`systemctl start postgresql`, or the compose service), or fix the host and "
                "port in the URL")
    if isinstance(error, TimeoutError):
        return (f"no answer from a PostgreSQL server at {where} (timed out): check the host, "
                "the port and any firewall between")
    if isinstance(error, OSError):
        return (f"cannot connect to PostgreSQL at {where} ({type(error).__name__}): check "
                "that the server runs and the host and port in the URL")
    if not isinstance(error, DBAPIError):
        return None
    state = str(getattr(error.orig, "sqlstate", "") or "")
    text = str(error.orig or "")
    if state == "28000" and "pg_hba.conf" in text:
        return (f"PostgreSQL at {where} does not let role {user!r} connect to database "
                f"{database!r} from this host: add a line for it to the server's pg_hba.conf "
                "and reload the server")
    if state == "28000":
        return (f"PostgreSQL at {where} has no role {user!r}: create it (`sudo -u postgres "
                f"createuser -P {user}`; {_CREATE}), or fix the user in the URL")
    if state == "28P01":
        return (f"PostgreSQL at {where} refused the password of role {user!r}: put the role's "
                "password in the URL (hex, or percent-encoded), or set it anew with `ALTER ROLE "
                f"{user} PASSWORD '...'`")
    if state == "3D000":
        return (f"PostgreSQL at {where} has no database {database!r}: create it (`sudo -u "
                f"postgres createdb -O {user} {database}`; {_CREATE}), or fix the name")
    if state == "42501":
        return (f"role {user!r} lacks a privilege it needs in database {database!r} (permission "
                f"denied): make it the owner (`ALTER DATABASE {database} OWNER TO {user}` as "
                f"postgres; {_CREATE}), or name the owner in the URL")
    if state == "53300":
        return (f"PostgreSQL at {where} has no free connection (too many clients): raise "
                "max_connections or run fewer workers")
    if state.startswith("57P"):
        return (f"PostgreSQL at {where} is starting up or shutting down: wait until it runs, "
                "then start again")
    return None
