"""A module every application group imports by the same name: each
interpreter has its own copy, so VALUE set in one group is not seen in
another (t/test_app_groups.py)."""
VALUE = None
PRELOADED = False
