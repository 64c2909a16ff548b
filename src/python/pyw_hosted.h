/*
 * pyw_hosted.h - the daemon in the group's own Python executable: the
 * daemon program execs into the Python (once the steps before Python are
 * done), which loads this same code as an extension module and runs the
 * daemon there.  Python then runs as fast as `python3` itself: Debian's
 * python3 is built from libpython's non-PIC objects, while an embedder
 * can only link the slower shared libpython.  Security updates of the
 * Python reach the daemons at their next start, as with the shared
 * libpython.
 */
#ifndef PYW_HOSTED_H
#define PYW_HOSTED_H

/* In main(): the extension module beside this program (<program>.ext),
 * or NULL to embed Python; remembers argv for the title. */
const char *pyw_hosted_prepare(int argc, char **argv);

/* Exec program (python_home: PYTHONHOME, or NULL) to run the daemon in
 * it.  Returns only when that cannot be done: -1, logged; the caller
 * embeds Python instead. */
int pyw_hosted_exec(const char *ext, const char *program,
                    const char *python_home);

/* In the Python executable: 1 once the daemon runs there. */
int pyw_hosted_running(void);

#endif /* PYW_HOSTED_H */
