"""A small client of Label Studio's REST API: the calls the labelling loop makes, nothing more.

The API key is either a legacy token (sent as `Authorization: Token <key>`) or a personal access token, a JWT
(exchanged at /api/token/refresh for a short-lived access token sent as `Bearer`). The key is never logged and
never appears in an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from vision_assets.core.errors import VisionError

TIMEOUT_S = 60
PAGE_SIZE = 100


class LabelStudioError(VisionError):
    """A refused or failed call, named by method, path and status (never by the key)."""


@dataclass
class LabelStudio:
    url: str
    api_key: str = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not self.api_key:
            raise LabelStudioError("no Label Studio API key (set LABEL_STUDIO_API_KEY)")
        if self.api_key.count(".") == 2:  # a personal access token (JWT): trade it for an access token
            access = self._call("POST", "/api/token/refresh/", json={"refresh": self.api_key}, auth=False)["access"]
            self.session.headers["Authorization"] = f"Bearer {access}"
        else:
            self.session.headers["Authorization"] = f"Token {self.api_key}"

    def _call(self, method: str, path: str, *, auth: bool = True, **kwargs) -> Any:
        kwargs.setdefault("timeout", TIMEOUT_S)
        send = self.session.request if auth else requests.request
        try:
            response = send(method, self.url + path, **kwargs)
        except requests.RequestException as error:
            raise LabelStudioError(f"{method} {self.url}{path}: {type(error).__name__}") from None
        if response.status_code >= 400:
            detail = response.text[:300].replace("\n", " ")
            raise LabelStudioError(f"{method} {path}: HTTP {response.status_code} {detail}")
        return response.json() if response.content else None

    def get(self, path: str, **params) -> Any:
        return self._call("GET", path, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", path, json=body)

    # Projects
    def projects(self) -> list[dict]:
        return self._pages("/api/projects/", "results")

    def project_by_title(self, title: str) -> dict | None:
        return next((p for p in self.projects() if p.get("title") == title), None)

    def create_project(self, title: str, label_config: str, description: str = "") -> dict:
        return self.post("/api/projects/", {"title": title, "label_config": label_config, "description": description})

    def update_project(self, project_id: int, **fields) -> dict:
        return self.patch(f"/api/projects/{project_id}/", fields)

    # Storage
    def local_storages(self, project_id: int) -> list[dict]:
        return self.get("/api/storages/localfiles/", project=project_id) or []

    def create_local_storage(self, project_id: int, path: str, title: str) -> dict:
        return self.post("/api/storages/localfiles/", {"project": project_id, "path": path, "title": title,
                                                       "use_blob_urls": False, "regex_filter": ""})

    # Tasks
    def tasks(self, project_id: int) -> list[dict]:
        return self._pages("/api/tasks/", "tasks", project=project_id, fields="all")

    def import_tasks(self, project_id: int, tasks: list[dict]) -> dict:
        return self.post(f"/api/projects/{project_id}/import", tasks)

    def predictions(self, task_id: int) -> list[dict]:
        return self.get("/api/predictions/", task=task_id) or []

    def create_annotation(self, task_id: int, result: list[dict]) -> dict:
        return self.post(f"/api/tasks/{task_id}/annotations/", {"result": result})

    def export(self, project_id: int) -> list[dict]:
        """Every task with at least one annotation, as Label Studio's JSON export holds it."""
        return self.get(f"/api/projects/{project_id}/export", exportType="JSON")

    # Users
    def users(self) -> list[dict]:
        found = self.get("/api/users/")
        return found.get("results", []) if isinstance(found, dict) else found

    def _pages(self, path: str, key: str, **params) -> list[dict]:
        items, page = [], 1
        while True:
            try:
                found = self.get(path, page=page, page_size=PAGE_SIZE, **params)
            except LabelStudioError as error:
                if page > 1 and "HTTP 404" in str(error):  # past the last page
                    return items
                raise
            batch = found.get(key, []) if isinstance(found, dict) else found
            items.extend(batch)
            total = found.get("count", found.get("total")) if isinstance(found, dict) else None
            if not isinstance(found, dict) or len(batch) < PAGE_SIZE or (total is not None and len(items) >= total):
                return items
            page += 1
