"""The resident portal rendered: map, list, "near me", languages, about page, and its static assets.

Its routes are in service/web/portal.py.
"""
