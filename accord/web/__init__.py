"""The analyst web UI: server-rendered pages (Jinja2, autoescaped) over the same services and the
same policy gate as the APIs. Sessions and CSRF are policy/sessions.py's; this room renders.

    context.py   what every page needs: store, settings, templates, the node secret
    pages.py     the page decorator (session, role, CSRF, errors) and rendering with headers
    headers.py   security headers (CSP without inline script) on every response
    auth.py      sign-in and sign-out
    browse.py    dashboard, search, object page
    lookup_page.py  values looked up in everything the viewer may see (services/lookup.py)
    release.py   import with review, approvals, publish and retract
    preview.py   "as partner X": what another organisation would receive
    admin.py     agreements, collections and their grants
    users.py     users, passwords and API tokens; every user's own account page
    audit_pages.py  the audit log, with the hash chain's verification
"""
