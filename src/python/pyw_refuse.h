/*
 * pyw_refuse.h - C extensions that refuse to load in this interpreter.
 *
 * Many extension modules can live in one interpreter per process only:
 * Cython's ("Interpreter change detected - this module can only be
 * loaded into one interpreter per process"), PyO3's ("PyO3 modules do
 * not yet support subinterpreters", "... may only be initialized once
 * per interpreter process"), and from Python 3.12 every single-phase
 * init module in an interpreter with its own GIL ("module X does not
 * support loading in subinterpreters").  Their ImportError, wherever it
 * surfaces (the script's import, a lazy import in a request, an import
 * script), becomes one log line, PYW0313, that names the module and the
 * application group and says what to do, instead of a traceback.
 *
 * GIL: called with it held, in the interpreter that raised.
 */
#ifndef PYW_REFUSE_H
#define PYW_REFUSE_H

/*
 * If the current exception is (or was caused by) such a refusal: log it
 * as one PYW0313 line at `level`, headed by `head` (what failed), clear
 * it, and return 1.  Otherwise 0, with the exception left as it was.
 */
int pyw_refuse_log(int level, const char *uri, const char *head);

#endif /* PYW_REFUSE_H */
