"""``ogfr serve``: a local web page over a gallery index and the checkpoint it was built with.

``SearchService`` (service.py) does the work (queries, rankings, pictures) without HTTP; ``create_app``
(app.py) puts a Starlette app with a plain HTML + JS page (static/) in front of it.
"""

from ogfr.serve.app import create_app
from ogfr.serve.service import SearchService

__all__ = ["SearchService", "create_app"]
