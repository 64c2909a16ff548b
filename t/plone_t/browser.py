"""What a browser does with Plone's pages: find a form, keep its fields
(hidden ones too, such as plone.protect's _authenticator), change some,
submit it with one button; list the URLs a page links to."""
import html.parser
import re
import urllib.parse


class Form:
    def __init__(self, attrs):
        self.attrs = attrs
        self.fields = []        # [(name, value)] as a browser would send
        self.files = []         # names of <input type=file>
        self.buttons = {}       # submit name -> value

    def get(self, name):
        for n, v in self.fields:
            if n == name:
                return v
        return None

    def set(self, name, value):
        """Replace the value of field `name` (added if absent)."""
        self.fields = [(n, v) for n, v in self.fields if n != name]
        self.fields.append((name, value))

    def field_matching(self, regex):
        names = [n for n, _ in self.fields if re.search(regex, n)]
        if len(names) != 1:
            raise AssertionError("fields matching %r: %s (all: %s)"
                                 % (regex, names,
                                    [n for n, _ in self.fields]))
        return names[0]

    def action(self, page_url):
        return urllib.parse.urljoin(page_url, self.attrs.get("action") or
                                    page_url)


class _Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.form = None
        self.textarea = None        # [name, chunks]
        self.select = None          # [name, first value, chosen]

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.form = Form(a)
            self.forms.append(self.form)
            return
        if self.form is None:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image", "button"):
                self.form.buttons[name] = a.get("value", "")
            elif kind == "file":
                self.form.files.append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.form.fields.append((name, a.get("value", "on")))
            elif kind != "reset":
                self.form.fields.append((name, a.get("value", "")))
        elif tag == "button" and name:
            self.form.buttons[name] = a.get("value", "")
        elif tag == "textarea" and name:
            self.textarea = [name, []]
        elif tag == "select" and name:
            self.select = [name, None, None]
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if self.select[1] is None:
                self.select[1] = value
            if "selected" in a:
                self.select[2] = value

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "textarea" and self.textarea is not None:
            if self.form is not None:
                self.form.fields.append((self.textarea[0],
                                         "".join(self.textarea[1])))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            name, first, chosen = self.select
            value = chosen if chosen is not None else first
            if self.form is not None and value is not None:
                self.form.fields.append((name, value))
            self.select = None


def forms(page):
    p = _Parser()
    p.feed(page)
    p.close()
    return p.forms


def find_form(page, has_field=None, has_button=None):
    """The one form with that field or button name."""
    found = [f for f in forms(page)
             if (has_field is None or f.get(has_field) is not None
                 or has_field in f.files)
             and (has_button is None or has_button in f.buttons)]
    if len(found) != 1:
        raise AssertionError("%d forms with field %r / button %r:\n%s"
                             % (len(found), has_field, has_button,
                                page[:2000]))
    return found[0]


def submit(session, page_url, form, button, files=None, **kw):
    """POST the form as multipart/form-data (what Plone's forms declare),
    pressing `button`; files: {field: (filename, bytes, content type)}."""
    parts = [(n, (None, v)) for n, v in form.fields]
    parts.append((button, (None, form.buttons.get(button, "") or "Save")))
    for name, spec in (files or {}).items():
        parts.append((name, spec))
    kw.setdefault("timeout", 60)
    return session.post(form.action(page_url), files=parts, **kw)


URL_RE = re.compile(r"""(?:https?:)?//[^\s"'<>()\\]+""")


def absolute_urls(page):
    """Every absolute (or scheme-relative) URL written in the page."""
    return URL_RE.findall(page)
