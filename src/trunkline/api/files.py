"""``GET /v1/files/{file_id}``: download a recording (spec/VOICE-API.md §5.10, §6.4).

The ``recording_url`` of a ``record`` event points here. The request carries the
application JWT (``Authorization: Bearer``, RS256, as for ``/v1/calls``); only the
application that made the recording gets it — another application's valid token
gets 404, exactly as for a file that does not exist, so ids cannot be probed.
The body is streamed from disk in a worker thread, with ``Content-Length``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from trunkline.api.auth import Authenticator, AuthError
from trunkline.api.problems import problem
from trunkline.errors import NotFound
from trunkline.files import FileStore


class FilesApi:
    def __init__(self, files: FileStore, auth: Authenticator) -> None:
        self.files = files
        self.auth = auth

    def routes(self) -> list[Route]:
        return [Route("/v1/files/{file_id}", self.download, methods=["GET"])]

    async def download(self, request: Request) -> Response:
        try:
            app = self.auth.application(request.headers.get("authorization"))
        except AuthError as exc:
            return problem(401, str(exc))
        file_id = request.path_params["file_id"]
        stored = self.files.get(file_id)
        if stored is None or stored.application_id != app.id:
            return _not_found(file_id)
        try:
            body = self.files.chunks(file_id)
        except NotFound:
            return _not_found(file_id)
        return StreamingResponse(
            body,
            media_type=stored.content_type,
            headers={
                "Content-Length": str(stored.size),
                "Content-Disposition": f'attachment; filename="{file_id}"',
                "Cache-Control": "private, max-age=0",
            },
        )


def _not_found(file_id: str) -> Response:
    return problem(404, f"ID '{file_id}' does not exist, or you do not have access")
