/*
 * pyw_script_load.c - run one WSGI script file as a module: read the
 * file (the GIL released around the system calls), compile it, execute
 * it in a new module registered in sys.modules as "_pyworker_<hash>".
 */
#include "pyw_python.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_script.h"
#include "pyw_script_int.h"

/* A script larger than this is refused: it is source, not data. */
#define SCRIPT_MAX_SIZE  (64 * 1024 * 1024)

/* script-user= / script-group=; -1: any. */
static uid_t script_owner_uid = (uid_t)-1;
static gid_t script_owner_gid = (gid_t)-1;

void pyw_script_owner(uid_t uid, gid_t gid)
{
    script_owner_uid = uid;
    script_owner_gid = gid;
}

/* Whether the file opened has the owner the group requires.  Apache
 * checked the path before forwarding; this checks the file actually
 * opened, which a tenant could have swapped (a symlink) in between. */
static int script_owner_ok(const struct stat *st)
{
    return (script_owner_uid == (uid_t)-1 || st->st_uid == script_owner_uid)
        && (script_owner_gid == (gid_t)-1 || st->st_gid == script_owner_gid);
}

/* Open path for reading: fd and its stat, or -errno (-EPERM: not of the
 * owner script-user= / script-group= require). */
static int script_open(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), err;

    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, st) < 0) {
        err = -errno;
    }
    else if (!S_ISREG(st->st_mode)) {
        err = -EISDIR;
    }
    else if (st->st_size > SCRIPT_MAX_SIZE) {
        err = -EFBIG;
    }
    else if (!script_owner_ok(st)) {
        err = -EPERM;
    }
    else {
        return fd;
    }
    close(fd);
    return err;
}

/* Read up to len bytes; bytes read or -errno. */
static ssize_t script_read_fd(int fd, char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n == 0) {
            break;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    return (ssize_t)got;
}

/* pyw_script.h.  The GIL is released around the system calls; buf is
 * private until returned. */
PyObject *pyw_script_read(const char *path, struct stat *st)
{
    PyObject *buf = NULL;
    off_t size = 0;
    ssize_t got;
    int fd;

    Py_BEGIN_ALLOW_THREADS
    fd = script_open(path, st);
    Py_END_ALLOW_THREADS
    size = fd >= 0 ? st->st_size : 0;
    if (fd >= 0 && (buf = PyBytes_FromStringAndSize(NULL, size)) == NULL) {
        close(fd);
        return NULL;
    }
    got = fd;
    if (fd >= 0) {
        Py_BEGIN_ALLOW_THREADS
        got = script_read_fd(fd, PyBytes_AS_STRING(buf), (size_t)size);
        close(fd);
        Py_END_ALLOW_THREADS
    }
    if (got == -EPERM) {
        PyErr_Format(PyExc_PermissionError, "%s is owned by uid %ld gid "
                     "%ld; the group loads only files of uid %ld gid %ld "
                     "(script-user=, script-group=; -1: any)", path,
                     (long)st->st_uid, (long)st->st_gid,
                     (long)(int)script_owner_uid,
                     (long)(int)script_owner_gid);
        return NULL;
    }
    if (got < 0) {
        Py_XDECREF(buf);
        errno = (int)-got;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }
    /* A file that shrank while being read: use what is there. */
    if (got < size && _PyBytes_Resize(&buf, got) < 0) {
        return NULL;
    }
    return buf;
}

/* compile(source, filename, 'exec') and run it in module's namespace. */
static int script_exec(PyObject *module, PyObject *source, PyObject *file)
{
    PyObject *dict = PyModule_GetDict(module);
    PyObject *compile, *code, *res;

    if (PyDict_SetItemString(dict, "__file__", file) < 0
        || PyDict_SetItemString(dict, "__builtins__",
                                PyEval_GetBuiltins()) < 0) {
        return -1;
    }
    compile = PyDict_GetItemString(PyEval_GetBuiltins(), "compile");
    if (compile == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "builtins.compile is missing");
        return -1;
    }
    code = PyObject_CallFunction(compile, "OOsiO", source, file, "exec", 0,
                                 Py_True);
    if (code == NULL) {
        return -1;
    }
    res = PyEval_EvalCode(code, dict, dict);
    Py_DECREF(code);
    Py_XDECREF(res);
    return res ? 0 : -1;
}

/* Create, register and run the module for e.  0, or -1 with an exception
 * set and nothing left in sys.modules. */
int pyw_script_load(script_entry_t *e)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *name, *file, *source, *module;
    struct stat st;
    char modname[32];
    int rv = -1;

    if ((source = pyw_script_read(e->path, &st)) == NULL) {
        return -1;
    }
    e->mtime = st.st_mtim;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->checked_ms = pyw_io_now_ms();

    snprintf(modname, sizeof(modname), "_pyworker_%016llx",
             (unsigned long long)e->hash);
    name = PyUnicode_FromString(modname);
    file = PyUnicode_DecodeFSDefault(e->path);
    module = name ? PyModule_NewObject(name) : NULL;
    /* Registered before it runs, as the import system does, so the script
     * can find itself (pickle, dataclasses, typing look it up). */
    if (module && file && PyDict_SetItem(modules, name, module) == 0) {
        if (script_exec(module, source, file) == 0) {
            e->module = module;
            Py_INCREF(module);
            rv = 0;
        }
        else if (PyDict_GetItemWithError(modules, name) == module) {
            PyObject *et, *ev, *etb;

            PyErr_Fetch(&et, &ev, &etb);
            if (PyDict_DelItem(modules, name) < 0) {
                PyErr_Clear();
            }
            PyErr_Restore(et, ev, etb);
        }
    }
    Py_XDECREF(module);
    Py_XDECREF(file);
    Py_XDECREF(name);
    Py_DECREF(source);
    return rv;
}
