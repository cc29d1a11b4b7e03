"""The TAXII 2.1 server (OASIS TAXII 2.1, https://docs.oasis-open.org/cti/taxii/v2.1/).

    routes.py     the URL table
    resources.py  discovery, API roots, collections, status          (spec sections 4.1-4.3, 5.1-5.2)
    objects.py    objects, one object, versions, manifest, Add Objects (sections 5.3-5.8)
    context.py    what a handler needs: store, limits, cursors, throttle, clock; the request preamble
    auth.py       HTTP Basic / Bearer credentials and the failed-attempt throttle
    paging.py     query parameters, signed ``next`` cursors, page headers
    media.py      media-type negotiation and the TAXII JSON response
    errors.py     TAXII error resources, and the one place domain errors become HTTP statuses

Every read asks policy.gate for the caller's predicate and hands it to the store, which applies
it in SQL; every write goes through services.ingest.
"""
