"""gunicorn's settings for every server of this project: make run, the tests and bench/ start
gunicorn in this directory, where gunicorn reads this file by default.

Request lines up to 16 KiB reach Django, so that its JSON envelope answers a long URL (a 5 kB
query string is a 400 `invalid_body`, not gunicorn's own HTML "414 URI Too Long"). gunicorn
accepts --limit-request-line only up to 8190 bytes, or 0 for no limit at all; raising that
ceiling to ours keeps a bound.

The access log goes through organizations.logging.GunicornLogger, which redacts secrets.
"""

from __future__ import annotations

import gunicorn.http.message

REQUEST_LINE_LIMIT = 16 * 1024

gunicorn.http.message.MAX_REQUEST_LINE = max(gunicorn.http.message.MAX_REQUEST_LINE, REQUEST_LINE_LIMIT)
limit_request_line = REQUEST_LINE_LIMIT
# The access log's request line, path, query and referer redacted like every other log line:
# a token in a link (an invitation, a confirmation, a password reset) stays out of it.
logger_class = "organizations.logging.GunicornLogger"
