"""mod_proxy in a test Apache: the LoadModule lines, and balancer-manager
as an administrator uses it (read the page, post a change with its
nonce)."""
import re

import requests

from .httpd import MODDIR

PROXY_MODULES = ("proxy", "proxy_balancer", "proxy_http", "slotmem_shm",
                 "lbmethod_byrequests", "lbmethod_bybusyness",
                 "lbmethod_bytraffic")


def load_proxy(modules=PROXY_MODULES):
    """LoadModule lines for a snippet."""
    return "\n".join(
        "<IfModule !%s_module>\n    LoadModule %s_module %s/mod_%s.so\n"
        "</IfModule>" % (m, m, MODDIR, m) for m in modules)


def manager_page(httpd, balancer=None):
    path = "/balancer-manager" + ("?b=%s" % balancer if balancer else "")
    # A request with parameters and no Referer of this host is refused as
    # cross-site (AH10187), as a browser's would be.
    r = requests.get(httpd.url(path), timeout=10,
                     headers={"Referer": httpd.url("/balancer-manager")})
    r.raise_for_status()
    return r.text


def manager_section(page, balancer):
    """The part of the page about balancer://NAME (every balancer is
    listed, each with its own nonce)."""
    for part in page.split("<h3>")[1:]:
        if ">balancer://%s</a>" % balancer in part:
            return part
    raise AssertionError("balancer://%s not on the page" % balancer)


def manager_nonce(httpd, balancer):
    part = manager_section(manager_page(httpd, balancer), balancer)
    m = re.search(r"nonce=([0-9a-f-]{36})", part)
    assert m, "no nonce for balancer://%s" % balancer
    return m.group(1)


def manager_set(httpd, balancer, member, **fields):
    """Change one member as the page's form does: w_status_D=1 (disable),
    w_status_N=1 (drain), w_lf=10 ..."""
    data = {"b": balancer, "w": member,
            "nonce": manager_nonce(httpd, balancer)}
    data.update(fields)
    r = requests.post(httpd.url("/balancer-manager"), data=data, timeout=10,
                      headers={"Referer": httpd.url("/balancer-manager")})
    r.raise_for_status()
    return r.text


def manager_add(httpd, balancer, url):
    """Add a member as the page's form does (needs room: growth=)."""
    data = {"b": balancer, "b_nwrkr": url, "b_wyes": "1",
            "nonce": manager_nonce(httpd, balancer)}
    r = requests.post(httpd.url("/balancer-manager"), data=data, timeout=10,
                      headers={"Referer": httpd.url("/balancer-manager")})
    r.raise_for_status()
    return r.text


def member_row(page, balancer, member):
    """The cells of a member's row in balancer://NAME's table: URL, Route,
    RouteRedir, Factor, Set, Status, Elected, Busy, Load, To, From."""
    part = manager_section(page, balancer)
    for row in re.findall(r"<tr>(.*?)</tr>", part, re.S):
        if ">%s<" % member in row:
            return [re.sub(r"<[^>]+>", "", c).strip()
                    for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    return None
