"""Print how to embed the Python that runs this script, for configure
(run as `PYTHON build-aux/python-flags.py [--static]`):

    VERSION<TAB>EXECUTABLE<TAB>CFLAGS<TAB>LDFLAGS

Paths come from where this Python is now (sys.base_prefix), not from
where it was built, so a copied or relocated installation (a pyenv
build moved out of root's home) links against its own files.  A Python
without a shared libpython is linked statically, with its symbols
exported for extension modules; --static asks for that even when a
shared one exists.
"""
import os
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
        static = os.path.join(rerooted(get("LIBPL")), "libpython%s.a" % ldver)
        if not os.path.exists(static):
            sys.exit("neither %s nor %s exists" % (shared_lib, static))
        ld = [static, "-Wl,--export-dynamic"]
    return ldver, includes, ld + syslibs


def main():
    version, includes, ld = flags("--static" in sys.argv[1:])
    print("\t".join([version, os.path.realpath(sys.executable),
                     " ".join(includes), " ".join(ld)]))


main()
