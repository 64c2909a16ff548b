"""PYWnnnn codes the tests expect, by meaning (README "Log codes").

One place to update if a code is renumbered.  Ranges are from
src/common/pyw_logno.h.
"""
APACHE_CONFIG = (1, 99)         # configuration, process manager
APACHE_REQUEST = (100, 199)     # handler, forwarding, connections
DAEMON = (200, 299)             # daemon process
PYTHON = (300, 399)             # Python / WSGI adapter

# Process manager (parent)
DAEMON_DIED = 22                # error: died (signal / exit status), restart
DAEMON_START_FAILED = 23        # error: could not start, backing off

# Request handling (Apache children)
BACKEND_CLOSED = 111            # 502: daemon closed before the response
BACKEND_CLOSED_MIDWAY = 114     # daemon closed in the middle of a response

# Daemon
DAEMON_STARTED = 200            # notice: daemon started
PRIVILEGES = 207                # crit: privilege drop failed / would be root
CHDIR = 208                     # crit/warn: chdir(home) failed
PYTHON_START = 210              # crit: Python could not start: exit 254

# Python / WSGI
PYTHON_INIT_FAILED = 300        # crit: Python could not start (python-home)
BAD_VENV = 305                  # crit: python-home is a venv it cannot use
IMPORT_SCRIPT_FAILED = 310      # error: PyWorkerImportScript failed: exit 254
SCRIPT_LOAD_FAILED = 311        # a script failed to import: 500
NO_APPLICATION = 312            # no such callable in the script: 500
APP_EXCEPTION = 320             # exception or invalid response before headers
APP_ABORTED = 321               # exception after headers: response aborted
NO_START_RESPONSE = 322         # start_response never called
BODY_OVERFLOW = 323             # body longer than Content-Length
BODY_SHORT = 324                # body shorter than Content-Length
WSGI_ERRORS = 360               # wsgi.errors text
STDERR = 361                    # sys.stderr text
STDOUT = 362                    # sys.stdout text
