# sigmask_import.py - an import script that blocks the daemon's stop and
# restart signals on the thread that runs it (the daemon's main thread).
import signal

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT,
                                          signal.SIGUSR2, signal.SIGHUP})
