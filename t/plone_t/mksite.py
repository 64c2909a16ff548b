"""Create a Plone site in a fresh FileStorage (run with the Plone venv's
python, not the test runner's):

    python mksite.py DIR TITLE

DIR gets Data.fs, blobs/ and the Zope instance the script needed
(etc/zope.conf).  The Zope root gets a user admin/ADMIN_PASSWORD with
the Manager role; the site is /Plone, made from plone.classicui's
"classic" distribution (Classic UI, no example content) with
plone.restapi installed, and holds one published page, /Plone/test-page.  Prints the seconds it took.
"""
import io
import os
import sys
import time

ADMIN, ADMIN_PASSWORD = "admin", "secret"
SITE_ID = "Plone"
PAGE_ID = "test-page"

ZOPE_CONF = """\
%define INSTANCE {dir}
instancehome $INSTANCE
clienthome $INSTANCE/var
<zodb_db main>
    <filestorage>
        path $INSTANCE/Data.fs
        blob-dir $INSTANCE/blobs
    </filestorage>
    mount-point /
</zodb_db>
<environment>
    CHAMELEON_CACHE $INSTANCE/var/cache
</environment>
"""


def main(target, title):
    t0 = time.monotonic()
    for d in ("etc", "var/cache", "blobs"):
        os.makedirs(os.path.join(target, d), exist_ok=True)
    conf = os.path.join(target, "etc", "zope.conf")
    with open(conf, "w") as f:
        f.write(ZOPE_CONF.format(dir=target))

    from Zope2.Startup.run import configure_wsgi
    configure_wsgi(conf)
    import transaction
    import Zope2
    from AccessControl.SecurityManagement import newSecurityManager
    from Products.CMFPlone.factory import addPloneSite
    from ZPublisher.BaseRequest import RequestContainer
    from ZPublisher.HTTPRequest import HTTPRequest
    from ZPublisher.HTTPResponse import HTTPResponse
    from zope.globalrequest import setRequest
    from zope.publisher.browser import setDefaultSkin

    # Not Testing.makerequest: importing Testing swaps the configured
    # database for a DemoStorage.
    request = HTTPRequest(io.BytesIO(), {"SERVER_NAME": "localhost",
                                         "SERVER_PORT": "80",
                                         "REQUEST_METHOD": "GET"},
                          HTTPResponse())
    setDefaultSkin(request)
    setRequest(request)
    app = Zope2.app().__of__(RequestContainer(REQUEST=request))
    app.acl_users._doAddUser(ADMIN, ADMIN_PASSWORD, ["Manager"], [])
    newSecurityManager(None, app.acl_users.getUser(ADMIN).__of__(
        app.acl_users))
    site = addPloneSite(app, SITE_ID, title=title,
                        distribution_name="classic", setup_content=False,
                        default_language="en", portal_timezone="UTC")
    setup = site.portal_setup
    setup.runAllImportStepsFromProfile("profile-plone.restapi:default")
    from plone import api
    page = api.content.create(container=site, type="Document",
                              id=PAGE_ID, title="Test page")
    api.content.transition(obj=page, transition="publish")
    transaction.commit()
    app._p_jar.db().close()
    print("%.1f" % (time.monotonic() - t0))


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]), sys.argv[2])
