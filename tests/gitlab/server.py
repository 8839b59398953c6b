#!/usr/bin/env python3
"""A local stand-in for the part of GitLab's REST API v4 flinkform uses.

Usage: server.py

GitLab publishes no machine-readable description of these endpoints, so this models
what GitLab's own documentation says, and is strict where it speaks:
  - Notes API (docs.gitlab.com/ee/api/notes.html, "Merge requests"): list
    GET /projects/:id/merge_requests/:merge_request_iid/notes (`sort` asc|desc, default
    desc; `order_by` created_at|updated_at; paginated), create POST … with a required
    `body`, modify PUT …/notes/:note_id with `body`, delete DELETE …/notes/:note_id (204).
    Notes carry `system`: true for GitLab's own event notes.
  - Pagination (docs.gitlab.com/ee/api/rest/#pagination): `page`, `per_page` (at most
    100), and the `Link`, `x-next-page`, `x-page`, `x-per-page`, `x-total`,
    `x-total-pages` headers.
  - Merge requests API: GET /projects/:id/merge_requests/:iid (with `labels`), PUT with
    `add_labels` / `remove_labels` (comma-separated), and
    GET /projects/:id/repository/commits/:sha/merge_requests (Commits API).
  - Authentication (docs.gitlab.com/ee/api/rest/authentication.html): `PRIVATE-TOKEN`
    header; without it 401 `{"message": "401 Unauthorized"}`.
  - Users API: GET /user, the token's own user (a project access token's is its bot,
    `project_42_bot`), who writes the notes the token creates.
  - `:id` is a project's id or its URL-encoded path (`group%2Fproject`).
A request outside these (an unknown path or parameter, a bad value, a missing `body`)
gets 400 or 404 as GitLab answers and is recorded as a violation.

Prints `listening PORT`. Under /_control/ (not GitLab's): GET state; POST seed
{"project", "mr", "notes": [{"body", "system", "author"}], "labels"} (author: a person
unless named); POST merge {"sha", "mr", "merged"} (merged: true unless false, an open
merge request that holds the commit); POST fail {"status", "times", "headers"}.
"""
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROJECT = "group/project"
PROJECT_ID = "42"

NOTES = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes(?:/(\d+))?$")
MR = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)$")
COMMIT_MRS = re.compile(r"^/api/v4/projects/([^/]+)/repository/commits/([0-9a-zA-Z]+)/merge_requests$")

LIST_PARAMS = {"sort", "order_by", "page", "per_page", "activity_filter"}


class World:
    def __init__(self):
        self.lock = threading.Lock()
        self.notes = []
        self.labels = {}
        self.merges = {}
        self.next_id = 3000
        self.violations = []
        self.log = []
        self.fail = None


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


BOT = "project_42_bot"


def user_json(username):
    return {"id": 1 if username == BOT else 2, "username": username, "name": username, "state": "active",
            "avatar_url": None, "web_url": "https://gitlab.example.com/%s" % username}


def note_json(n):
    return {
        "id": n["id"], "type": None, "body": n["body"], "attachment": None,
        "author": user_json(n["author"]),
        "created_at": n["created_at"], "updated_at": n["updated_at"], "system": n["system"],
        "noteable_id": 7000 + n["mr"], "noteable_type": "MergeRequest", "project_id": int(PROJECT_ID),
        "resolvable": False, "confidential": False, "internal": False, "noteable_iid": n["mr"],
        "commands_changes": {},
    }


class Handler(BaseHTTPRequestHandler):
    world = World()
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def violation(self, status, message):
        self.world.violations.append("%s %s: %s" % (self.command, self.path, message))
        return self.send(status, {"error": message} if status == 400 else {"message": message})

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        w = self.world
        if url.path.startswith("/_control/"):
            return self.control(url.path, raw)
        with w.lock:
            w.log.append({"method": self.command, "path": url.path, "query": url.query})
        if not self.headers.get("PRIVATE-TOKEN"):
            return self.send(401, {"message": "401 Unauthorized"})
        with w.lock:
            if w.fail and w.fail["times"] > 0:
                w.fail["times"] -= 1
                return self.send(w.fail["status"], {"message": w.fail.get("message", "403 Forbidden")},
                                 w.fail.get("headers"))
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = None
        if raw:
            if "application/json" not in (self.headers.get("Content-Type") or ""):
                return self.violation(400, "a body that is not JSON")
            body = json.loads(raw)
        with w.lock:
            return self.route(url.path, query, body)

    def project_ok(self, seg):
        return urllib.parse.unquote(seg) in (PROJECT, PROJECT_ID)

    def route(self, path, query, body):
        w = self.world
        m = NOTES.match(path)
        if m and self.project_ok(m.group(1)):
            mr, note_id = int(m.group(2)), m.group(3)
            if note_id is None and self.command == "GET":
                return self.list_notes(mr, query)
            if note_id is None and self.command == "POST":
                if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                    return self.violation(400, "body is missing")
                n = {"id": w.next_id, "mr": mr, "body": body["body"], "system": False, "author": BOT,
                     "created_at": now(), "updated_at": now()}
                w.next_id += 1
                w.notes.append(n)
                return self.send(201, note_json(n))
            found = [n for n in w.notes if note_id and n["id"] == int(note_id) and n["mr"] == mr]
            if note_id and not found:
                return self.send(404, {"message": "404 Not found"})
            if note_id and self.command == "PUT":
                if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                    return self.violation(400, "body is missing")
                found[0]["body"], found[0]["updated_at"] = body["body"], now()
                return self.send(200, note_json(found[0]))
            if note_id and self.command == "DELETE":
                w.notes.remove(found[0])
                return self.send(204)
        m = MR.match(path)
        if m and self.project_ok(m.group(1)):
            mr = int(m.group(2))
            labels = w.labels.setdefault(mr, [])
            if self.command == "PUT":
                unknown = set(body or {}) - {"add_labels", "remove_labels", "labels", "title", "description"}
                if unknown:
                    return self.violation(400, "unknown parameters %s" % sorted(unknown))
                for k in ("add_labels", "remove_labels"):
                    if k in body and not isinstance(body[k], str):
                        return self.violation(400, "%s is invalid (a comma-separated string)" % k)
                for name in filter(None, (body.get("add_labels") or "").split(",")):
                    if name not in labels:
                        labels.append(name)
                for name in filter(None, (body.get("remove_labels") or "").split(",")):
                    if name in labels:
                        labels.remove(name)
            if self.command in ("GET", "PUT"):
                return self.send(200, {"id": 7000 + mr, "iid": mr, "project_id": int(PROJECT_ID),
                                       "state": "opened", "labels": labels, "title": "MR %d" % mr})
        m = COMMIT_MRS.match(path)
        if m and self.project_ok(m.group(1)) and self.command == "GET":
            sha = m.group(2)
            mrs = []
            if sha in w.merges:
                mr, merged = w.merges[sha]
                mrs.append({"id": 7000 + mr, "iid": mr, "state": "merged" if merged else "opened",
                            "merge_commit_sha": sha if merged else None})
            return self.send(200, mrs)
        if path == "/api/v4/user" and self.command == "GET":
            return self.send(200, user_json(BOT))
        return self.violation(404, "404 Not Found")

    def list_notes(self, mr, query):
        unknown = set(query) - LIST_PARAMS
        if unknown:
            return self.violation(400, "unknown parameters %s" % sorted(unknown))
        sort = query.get("sort", ["desc"])[0]
        order_by = query.get("order_by", ["created_at"])[0]
        if sort not in ("asc", "desc") or order_by not in ("created_at", "updated_at"):
            return self.violation(400, "sort or order_by does not have a valid value")
        try:
            page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["20"])[0])
        except ValueError:
            return self.violation(400, "page or per_page is invalid")
        if page < 1 or not 1 <= per_page <= 100:
            return self.violation(400, "page or per_page is out of range (per_page is at most 100)")
        mine = [n for n in self.world.notes if n["mr"] == mr]
        mine.sort(key=lambda n: (n[order_by], n["id"]), reverse=(sort == "desc"))
        total_pages = max(1, (len(mine) + per_page - 1) // per_page)
        chunk = mine[(page - 1) * per_page: page * per_page]
        base = "http://%s/api/v4/projects/%s/merge_requests/%d/notes" % (self.headers.get("Host"), PROJECT_ID, mr)
        keep = {k: v[0] for k, v in query.items() if k not in ("page",)}
        link = lambda p: "<%s?%s>" % (base, urllib.parse.urlencode(dict(keep, page=p, per_page=per_page)))
        links = ['%s; rel="first"' % link(1), '%s; rel="last"' % link(total_pages)]
        headers = {"x-page": str(page), "x-per-page": str(per_page), "x-total": str(len(mine)),
                   "x-total-pages": str(total_pages), "x-next-page": "", "x-prev-page": ""}
        if page < total_pages:
            links.insert(0, '%s; rel="next"' % link(page + 1))
            headers["x-next-page"] = str(page + 1)
        headers["Link"] = ", ".join(links)
        return self.send(200, [note_json(n) for n in chunk], headers)

    def control(self, path, raw):
        w = self.world
        with w.lock:
            if path == "/_control/state":
                return self.send(200, {"notes": w.notes, "labels": {str(k): v for k, v in w.labels.items()},
                                       "violations": w.violations, "log": w.log})
            c = json.loads(raw) if raw else {}
            if path == "/_control/seed":
                for n in c.get("notes", []):
                    w.notes.append({"id": w.next_id, "mr": c["mr"], "body": n["body"], "system": n.get("system", False),
                                    "author": n.get("author", "alice"), "created_at": now(), "updated_at": now()})
                    w.next_id += 1
                w.labels.setdefault(c["mr"], []).extend(c.get("labels", []))
                return self.send(200, {})
            if path == "/_control/merge":
                w.merges[c["sha"]] = (c["mr"], c.get("merged", True))
                return self.send(200, {})
            if path == "/_control/fail":
                w.fail = c
                return self.send(200, {})
        return self.send(404, {"message": "no such control"})

    def handle_safely(self):
        try:
            self.handle_any()
        except Exception as e:  # a bug here must fail the test, not hang up on the client
            self.world.violations.append("the stand-in failed on %s %s: %r" % (self.command, self.path, e))
            self.send(500, {"message": "stand-in error: %r" % e})

    do_GET = do_POST = do_PUT = do_DELETE = handle_safely


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
