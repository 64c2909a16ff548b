"""Print how to embed the Python that runs this script, for configure
(run as `PYTHON build-aux/python-flags.py [--static]`):

    VERSION<TAB>EXECUTABLE<TAB>CFLAGS<TAB>LDFLAGS

Paths come from where this Python is now (sys.base_prefix), not from
where it was built, so a copied or relocated installation (a pyenv
build moved out of root's home) links against its own files.  A Python
without a shared libpython is linked statically (plus the libraries of
the modules built into it), with its symbols exported for extension
modules; --static asks for that even when a shared one exists.  A static
daemon is linked as the Python's own executable is: Debian's python3 is
not a PIE and is built from the plain libpythonX.Y.a, so the daemon is
too (the same code, measured 5-15 % less CPU per Zope request than the
shared libpython; docs/PERFORMANCE.md); a PIE Python's daemon stays a
PIE, from the position-independent archive when there is one.
"""
import os
import struct
import sys
import sysconfig

get = sysconfig.get_config_var
STANDARD_LIBDIRS = {"/lib", "/lib64", "/usr/lib", "/usr/lib64"}


def rerooted(path):
    """A build-time path under the build prefix, moved to the real one."""
    built = get("prefix") or ""
    if path and built and path.startswith(built + "/"):
        return sys.base_prefix + path[len(built):]
    return path


def flags(force_static):
    ldver = get("LDVERSION") or "%d.%d" % sys.version_info[:2]
    paths = sysconfig.get_paths()
    includes = ["-I" + paths["include"]]
    if paths["platinclude"] != paths["include"]:
        includes.append("-I" + paths["platinclude"])
    syslibs = [w for w in ((get("LIBS") or "") + " " +
                           (get("SYSLIBS") or "")).split()
               if not w.startswith("-L") and "rpath" not in w]
    libdir = rerooted(get("LIBDIR"))
    multiarch = get("MULTIARCH")
    standard = set(STANDARD_LIBDIRS)
    if multiarch:
        standard |= {"/lib/" + multiarch, "/usr/lib/" + multiarch}
    shared_lib = os.path.join(libdir, "libpython%s.so" % ldver)
    if (get("Py_ENABLE_SHARED") and os.path.exists(shared_lib)
            and not force_static):
        ld = ["-L" + libdir, "-lpython" + ldver]
        if os.path.normpath(libdir) not in standard:
            ld.append("-Wl,-rpath," + libdir)
    else:
        pie = is_pie(sys.executable)
        ld = [static_library(ldver, shared_lib, pie), "-Wl,--export-dynamic"]
        if not pie:
            ld.insert(0, "-no-pie")   # after the Makefile's -pie: it wins
        # The modules built into the archive (zlib, pyexpat on Debian)
        # need their libraries; a shared libpython carries them itself.
        modlibs = (get("MODLIBS") or "").split()
        require_installed(modlibs)
        syslibs = unique(modlibs + syslibs)
    return ldver, includes, ld + syslibs


def is_pie(executable):
    """Whether an ELF executable is position-independent (type ET_DYN,
    not ET_EXEC); a file that is not ELF counts as one."""
    try:
        with open(os.path.realpath(executable), "rb") as f:
            head = f.read(18)
    except OSError:
        return True
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return True
    order = "<" if head[5] == 1 else ">"
    return struct.unpack(order + "H", head[16:18])[0] != 2   # ET_EXEC


def static_library(ldver, shared_lib, pie):
    """The static libpython.  A PIE daemon takes Debian's
    position-independent copy first (its plain libpythonX.Y.a is built
    without -fPIC and cannot be linked into one); a non-PIE daemon the
    plain one, which Debian's python3 itself is built from."""
    libpl = rerooted(get("LIBPL"))
    names = ["libpython%s-pic.a" % ldver, "libpython%s.a" % ldver]
    if not pie:
        names.reverse()
    for name in names:
        if os.path.exists(os.path.join(libpl, name)):
            return os.path.join(libpl, name)
    sys.exit("neither %s nor %s exists"
             % (shared_lib, os.path.join(libpl, names[-1])))


def require_installed(modlibs):
    """Exits when a built-in module needs an archive of CPython's build
    tree that was not installed (a relative path such as 3.12 and 3.13's
    Modules/_hacl/libHacl_Hash_SHA2.a for _sha2, CPython gh-131298):
    this Python's static library cannot be linked."""
    missing = [w for w in modlibs if w.endswith(".a")
               and not os.path.isabs(w) and not os.path.exists(w)]
    if missing:
        sys.exit("the static libpython of %s is incomplete: its built-in "
                 "modules need %s from CPython's build tree, which was not "
                 "installed (CPython gh-131298); link the shared libpython "
                 "(without --with-static-libpython)"
                 % (sys.executable, " ".join(missing)))


def unique(words):
    """words without repeats, each where it first appears."""
    seen = set()
    return [w for w in words if not (w in seen or seen.add(w))]


def main():
    version, includes, ld = flags("--static" in sys.argv[1:])
    print("\t".join([version, os.path.realpath(sys.executable),
                     " ".join(includes), " ".join(ld)]))


main()
