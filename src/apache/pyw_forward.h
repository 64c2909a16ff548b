/*
 * pyw_forward.h - run one request over one connected backend.
 *
 * Sends REQUEST (the CGI/WSGI environ), answers the daemon's READs with
 * the client body, turns HEADERS/DATA/END into r's status, headers and
 * brigades.  It does not know where the backend came from (the handler's
 * connection cache today, a mod_proxy scheme later) and it does not log
 * failures: it describes them in a pyw_forward_outcome_t and the caller
 * maps that to a status and one log line.
 */
#ifndef PYW_FORWARD_H
#define PYW_FORWARD_H

#include <stdint.h>

#include "httpd.h"
#include "../common/pyw_io.h"
#include "pyw_backend.h"
#include "pyw_spool.h"

typedef struct {
    const char *process_group;      /* mod_pyworker.process_group     */
    const char *application_group;  /* mod_pyworker.application_group */
    const char *callable_object;    /* mod_pyworker.callable_object   */
    const char *paste_app;          /* mod_pyworker.paste_app: the
                                       PasteDeploy application's name
                                       (PyWorkerPasteApp); NULL: a
                                       WSGI script                    */
    const char *script_filename;    /* SCRIPT_FILENAME, SCRIPT_NAME and */
    const char *script_name;        /* PATH_INFO in place of Apache's  */
    const char *path_info;          /* (pyworker:// requests); NULL:
                                       Apache's, from r              */
    int         pass_authorization; /* 1: add HTTP_AUTHORIZATION      */
    int         script_reloading;   /* mod_pyworker.script_reloading  */
    int         log_id;             /* mod_pyworker.log_id: Apache's
                                       log id of r (made if none yet),
                                       for the daemon's %L            */
    int64_t     socket_timeout_ms;  /* each wait on the daemon socket;
                                       <= 0: Apache's Timeout          */
    int64_t     deadline_ms;        /* request-timeout, on the
                                       pyw_io_now_ms() clock;
                                       PYW_NO_DEADLINE: none           */
    pyw_spool_t *body;              /* a chunked body read whole: READs
                                       are answered from it, the environ
                                       gets its CONTENT_LENGTH; NULL:
                                       read the client as the app pulls */
    int         resent;             /* 1: a daemon turned this request
                                       down; the REQUEST says so
                                       (PYW_REQUEST_RESENT)          */
    int         head_as_get;        /* 1: REQUEST_METHOD GET for a HEAD
                                       (PyWorkerMapHEADToGET)        */
    int         length_unknown;     /* 1: a Content-Length an input
                                       filter may change: not in the
                                       environ                       */
    /* Error override (PyWorkerErrorOverride, ProxyErrorOverride): 1 if
     * the application's response with this status is to be replaced by
     * Apache's error document; NULL: never. */
    int       (*error_override)(request_rec *r, int status);
    /* 1: a 200 whose Location is a local path ("/...") is CGI's local
     * redirect: nothing of it is passed, its body is drained, and the
     * caller redirects (PYW_FWD_REDIRECT).  0: passed as it is. */
    int         local_redirect;
} pyw_forward_opts_t;

typedef enum {
    PYW_FWD_OK = 0,         /* END read and passed on                    */
    PYW_FWD_NO_BACKEND,     /* set by callers: no connection could be had */
    PYW_FWD_SEND_FAILED,    /* REQUEST could not be written (err)        */
    PYW_FWD_DAEMON_GONE,    /* EOF, I/O or protocol error from the daemon */
    PYW_FWD_TIMEOUT,        /* the daemon did not answer within Timeout  */
    PYW_FWD_APP_ERROR,      /* ERROR frame (status, reason)              */
    PYW_FWD_CLIENT_GONE,    /* passing the response to the client failed */
    PYW_FWD_BODY_ERROR,     /* the client body could not be read (status) */
    PYW_FWD_ENV_TOO_LARGE,  /* the environ does not fit in one REQUEST   */
    PYW_FWD_NOT_RUN,        /* the daemon dropped the connection without
                               taking the REQUEST (GOODBYE, write failed,
                               or reset with the REQUEST unread): nothing
                               ran and no body was read, so the caller may
                               send it again on another connection (err,
                               reason)                                   */
    PYW_FWD_REQUEST_TIMEOUT,/* opts->deadline_ms passed (request-timeout) */
    PYW_FWD_QUEUE_FULL,     /* set by callers: the group's queue-limit was
                               reached, nothing was sent (reason)       */
    PYW_FWD_OVERRIDDEN,     /* the app answered an error status that
                               opts->error_override claims: nothing was
                               passed, its body was discarded (status;
                               backend_clean: read to END, else the
                               connection must be closed)               */
    PYW_FWD_REDIRECT        /* a 200 with a local Location under
                               opts->local_redirect: nothing was passed,
                               its body was discarded (location;
                               backend_clean as for OVERRIDDEN)         */
} pyw_forward_result_e;

typedef struct {
    pyw_forward_result_e result;
    int         status;        /* APP_ERROR: the daemon's status;
                                  OVERRIDDEN: the application's;
                                  BODY_ERROR: 413/400/408.. or
                                  AP_FILTER_ERROR (already answered);
                                  CLIENT_GONE: AP_FILTER_ERROR or 0    */
    int         err;           /* -errno for SEND_FAILED, DAEMON_GONE,
                                  TIMEOUT, NO_BACKEND, NOT_RUN         */
    const char *reason;        /* protocol error or ERROR text; or NULL */
    const char *location;      /* REDIRECT: the URL to serve instead    */
    int         committed;     /* the response status and headers went
                                  to the output filters: too late to
                                  answer with an error status          */
    int         backend_clean; /* the connection may be reused         */
    int         apache_stopping;/* NOT_RUN: the daemon stops with Apache
                                  (PYW_GOODBYE_APACHE_STOP): do not send
                                  the request again                    */
    int         request_unread;/* TIMEOUT before any response frame with
                                  part of the REQUEST still unread in the
                                  daemon's socket: it never ran (a
                                  stopped or stuck daemon)             */
    apr_off_t   body_sent;     /* request body bytes sent to the daemon */
    int         head_cut;      /* OK: a HEAD ended with its headers; the
                                  rest of the response was not read (the
                                  connection is closed)                */
    int64_t     client_wait_ms;/* the longest single pass to the client:
                                  nothing was read from the daemon
                                  meanwhile                            */
} pyw_forward_outcome_t;

/*
 * Forward r over b.  On return *out says what happened.  If !committed
 * and the result is not OK, r's status and headers are untouched and the
 * caller answers with an error status.  If committed and the exchange
 * failed, the client response has already been aborted (error bucket,
 * keep-alive off).  All allocations come from r->pool.
 *
 * Each wait on the daemon ends at the earlier of socket-timeout from now
 * and opts->deadline_ms.  Before the first response frame the daemon may
 * still refuse the request without running it (PYW_FWD_NOT_RUN); forward
 * may be called again for the same r on another backend after that, and
 * sends the same environ.
 */
void pyw_forward_request(request_rec *r, pyw_backend_t *b,
                         const pyw_forward_opts_t *opts,
                         pyw_forward_outcome_t *out);

#endif /* PYW_FORWARD_H */
