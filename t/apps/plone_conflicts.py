"""Test instrumentation, imported after a Zope instance's zope.wsgi
(PyWorkerImportScript): log every transaction Zope's publisher aborts,
with whether it will retry the request, so a test can tell that a
ZODB ConflictError really happened and was retried."""
import logging

from zope.component import provideHandler
from ZPublisher.interfaces import IPubBeforeAbort

log = logging.getLogger("pyworker.test.conflicts")


def _aborted(event):
    exc = event.exc_info[1]
    log.info("publisher abort: %s retry=%s", type(exc).__name__,
             event.retry)


provideHandler(_aborted, [IPubBeforeAbort])
