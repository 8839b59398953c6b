#!/usr/bin/env python3
"""A local stand-in for GitHub's REST API, held to GitHub's own contract.

Usage: server.py OPENAPI_JSON [--prefix /api/v3]

OPENAPI_JSON is GitHub's official OpenAPI description (npm `@octokit/openapi`,
generated/api.github.com.json). Every request is validated against it with
`openapi-core` (method, path, parameters, body schema) before it is served, and every
answer is built from the description's own examples and validated against the
operation's response schema before it is sent. A request that fails validation gets
422 and is recorded as a violation.

GraphQL (`POST /graphql`, or `/api/graphql` beside a `/api/v3` prefix, as GitHub
Enterprise Server has it) is checked against GitHub's official GraphQL schema (npm
`@octokit/graphql-schema`, found beside the OpenAPI package) with `graphql-core`, and
executed on that schema, so its answers have the schema's shape: `minimizeComment` is
served.

Serves the issue-comment and label operations flinkform uses, in memory, and
`GET /user`: a GitHub App installation's token (`ghs_…`, as GitHub Actions' GITHUB_TOKEN
is) may not ask it (403, "Resource not accessible by integration") and writes comments
as `github-actions[bot]`; any other token is the user `flinkform-ci`. Prints
`listening PORT` when ready. Outside the API, under /_control/ (never validated):
  GET  /_control/state       comments, labels, violations and the request log
  POST /_control/seed        {"repo": "o/r", "issue": 7, "bodies": [...], "labels": [...],
                             "author": "octocat"}: comments others wrote (by `author`,
                             a person unless named), labels others set
  POST /_control/merge       {"sha": "...", "pr": 7, "merged": true}: PR 7 was merged as
                             that commit (merged false: it is open and holds it)
  POST /_control/fail        {"status": 403|429, "times": N, "headers": {...}}: the
                             next N API requests get that answer (a permission error,
                             a rate limit)
"""
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

API = "https://api.github.com"

# The operations served: (method, OpenAPI path).
OPERATIONS = [
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("get", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("get", "/user"),
]

BOT = "github-actions[bot]"


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r not in out:
            out.add(r)
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def pruned(spec):
    """The description cut to the operations served and what they reference (building
    the whole description takes openapi-core a dozen seconds)."""
    paths = {}
    for method, path in OPERATIONS:
        item = spec["paths"][path]
        paths.setdefault(path, {k: v for k, v in item.items() if k == "parameters"})[method] = item[method]
    out = {k: v for k, v in spec.items() if k not in ("paths", "components")}
    out["paths"] = paths
    components, seen, todo = {}, set(), set()
    refs(paths, todo)
    while todo:
        r = todo.pop()
        if r in seen:
            continue
        seen.add(r)
        _, _, kind, name = r.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        more = set()
        refs(node, more)
        todo |= more - seen
    out["components"] = components
    return out


class World:
    def __init__(self, spec):
        self.spec = spec
        self.lock = threading.Lock()
        self.comments = []  # dicts in creation order, with "_issue"
        self.labels = {}  # issue key -> [names]
        self.merges = {}  # merge commit sha -> PR number
        self.next_id = 1000
        self.violations = []
        self.log = []
        self.fail = None

    def example(self, name):
        return json.loads(json.dumps(self.spec["components"]["examples"][name]["value"]))


def comment_json(world, owner, repo, c):
    v = world.example("issue-comment")
    v.update({
        "id": c["id"],
        "node_id": "IC_%d" % c["id"],
        "url": "%s/repos/%s/%s/issues/comments/%d" % (API, owner, repo, c["id"]),
        "html_url": "https://github.com/%s/%s/pull/%s#issuecomment-%d" % (owner, repo, c["_issue"], c["id"]),
        "issue_url": "%s/repos/%s/%s/issues/%s" % (API, owner, repo, c["_issue"]),
        "body": c["body"],
        "created_at": c["created_at"],
        "updated_at": c["updated_at"],
    })
    v["user"]["login"] = c["author"]
    v["user"]["type"] = "Bot" if c["author"].endswith("[bot]") else "User"
    return v


def label_json(world, name, i):
    v = world.example("label-items")[0]
    v.update({"id": 5000 + i, "node_id": "LA_%d" % i, "name": name,
              "url": "%s/labels/%s" % (API, urllib.parse.quote(name))})
    return v


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Handler(BaseHTTPRequestHandler):
    world = None
    openapi = None
    prefix = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=None, headers=None, validate=None):
        data = b"" if body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if validate is not None:
            resp = requests.Response()
            resp.status_code = status
            resp._content = data
            resp.headers.update(headers)
            try:
                self.openapi.validate_response(RequestsOpenAPIRequest(validate), RequestsOpenAPIResponse(resp))
            except Exception as e:
                self.world.violations.append("answer to %s %s: %s" % (validate.method, validate.url, e))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_control/"):
            return self.control(method, url.path, raw)
        path = url.path
        if method == "POST" and path == self.graphql_path:
            return self.graphql(raw)
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return self.send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
            path = path[len(self.prefix):]
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        full = API + path + ("?" + url.query if url.query else "")
        req = requests.Request(method, full, data=raw or None, headers=headers).prepare()
        w = self.world
        with w.lock:
            w.log.append({"method": method, "path": path, "query": url.query, "body": raw.decode() or None,
                          "headers": {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}})
        auth = self.headers.get("Authorization", "")
        if not (auth.startswith("Bearer ") or auth.startswith("token ")):
            return self.send(401, {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"})
        try:
            self.openapi.validate_request(RequestsOpenAPIRequest(req))
        except Exception as e:
            with w.lock:
                w.violations.append("%s %s: %s: %s %s" % (method, full, type(e).__name__, e, e.__cause__ or ""))
            return self.send(422, {"message": "Validation Failed: %s" % e, "documentation_url": "https://docs.github.com/rest"})
        with w.lock:
            if w.fail and w.fail["times"] > 0:
                w.fail["times"] -= 1
                f = w.fail
                return self.send(f["status"], {"message": f.get("message", "Forbidden"),
                                               "documentation_url": "https://docs.github.com/rest"}, f.get("headers"))
            return self.serve(method, path, url.query, json.loads(raw) if raw else None, req)

    def login(self):
        """Who the request's token writes as: the Actions bot for an app installation's
        token (`ghs_…`), else the user `flinkform-ci`."""
        token = (self.headers.get("Authorization") or "").split(" ")[-1]
        return BOT if token.startswith("ghs_") else "flinkform-ci"

    def serve(self, method, path, query, body, req):
        w = self.world
        parts = path.strip("/").split("/")
        if path == "/user":
            if self.login() == BOT:
                return self.send(403, {"message": "Resource not accessible by integration",
                                       "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user"},
                                 None, req)
            user = w.example("private-user-response-with-public-and-private-profile-information")
            user["login"] = self.login()
            user["user_view_type"] = "private"
            return self.send(200, user, None, req)
        q = urllib.parse.parse_qs(query)
        if len(parts) == 6 and parts[3] == "issues" and parts[5] == "comments":
            owner, repo, issue = parts[1], parts[2], parts[4]
            if method == "GET":
                per_page, page = int(q.get("per_page", ["30"])[0]), int(q.get("page", ["1"])[0])
                mine = [c for c in w.comments if c["_issue"] == issue and c["_repo"] == (owner, repo)]
                chunk = mine[(page - 1) * per_page: page * per_page]
                headers = {}
                last = max(1, (len(mine) + per_page - 1) // per_page)
                links = []
                base = "%s%s/repos/%s/%s/issues/%s/comments" % (self.base_url(), self.prefix, owner, repo, issue)
                if page < last:
                    links.append('<%s?per_page=%d&page=%d>; rel="next"' % (base, per_page, page + 1))
                    links.append('<%s?per_page=%d&page=%d>; rel="last"' % (base, per_page, last))
                if links:
                    headers["Link"] = ", ".join(links)
                return self.send(200, [comment_json(w, owner, repo, c) for c in chunk], headers, req)
            c = {"id": w.next_id, "_issue": issue, "_repo": (owner, repo), "body": body["body"],
                 "author": self.login(), "created_at": now(), "updated_at": now()}
            w.next_id += 1
            w.comments.append(c)
            return self.send(201, comment_json(w, owner, repo, c),
                             {"Location": "%s/repos/%s/%s/issues/comments/%d" % (API, owner, repo, c["id"])}, req)
        if len(parts) == 6 and parts[3] == "issues" and parts[4] == "comments":
            owner, repo, cid = parts[1], parts[2], int(parts[5])
            found = [c for c in w.comments if c["id"] == cid and c["_repo"] == (owner, repo)]
            if not found:
                return self.send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
            if method == "DELETE":
                w.comments.remove(found[0])
                return self.send(204, None, None, req)
            found[0]["body"] = body["body"]
            found[0]["updated_at"] = now()
            return self.send(200, comment_json(w, owner, repo, found[0]), None, req)
        if len(parts) == 6 and parts[3] == "commits" and parts[5] == "pulls":
            pulls = []
            if parts[4] in w.merges:
                number, merged = w.merges[parts[4]]
                pr = w.example("pull-request-simple-items")[0]
                # GitHub's example lists a requested team without the `type` its own
                # schema requires: none is requested here.
                pr.update({"number": number, "state": "closed" if merged else "open",
                           "merged_at": now() if merged else None, "closed_at": now() if merged else None,
                           "merge_commit_sha": parts[4] if merged else None, "requested_teams": []})
                pulls.append(pr)
            return self.send(200, pulls, None, req)
        if len(parts) >= 6 and parts[3] == "issues" and parts[5] == "labels":
            key = "/".join(parts[1:5])
            names = w.labels.setdefault(key, [])
            if method == "POST":
                for n in body["labels"]:
                    if n not in names:
                        names.append(n)
            elif method == "DELETE":
                name = urllib.parse.unquote(parts[6])
                if name not in names:
                    return self.send(404, {"message": "Label does not exist", "documentation_url": "https://docs.github.com/rest"})
                names.remove(name)
            return self.send(200, [label_json(w, n, i) for i, n in enumerate(names)], None, req)
        return self.send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def graphql(self, raw):
        from graphql import build_schema, graphql_sync, parse, validate
        w = self.world
        if not self.headers.get("Authorization", "").startswith(("Bearer ", "token ")):
            return self.send(401, {"message": "This endpoint requires you to be authenticated."})
        with w.lock:
            if Handler.graphql_schema is None:
                sdl = open(Handler.graphql_sdl, encoding="utf-8").read()
                # GitHub's published SDL defines a few fields twice: build it as GitHub serves it.
                Handler.graphql_schema = build_schema(sdl, assume_valid_sdl=True)
            schema = Handler.graphql_schema
        req = json.loads(raw)
        errors = validate(schema, parse(req["query"]))
        if errors:
            with w.lock:
                w.violations.append("GraphQL %s: %s" % (req["query"], "; ".join(e.message for e in errors)))
            return self.send(200, {"errors": [{"message": e.message} for e in errors]})

        def minimize(info, input):
            with w.lock:
                found = [c for c in w.comments if "IC_%d" % c["id"] == input["subjectId"]]
                if not found:
                    raise ValueError("Could not resolve to a node with the global id of '%s'" % input["subjectId"])
                found[0]["minimized"] = input["classifier"]
            return {"minimizedComment": {"__typename": "IssueComment", "isMinimized": True,
                                         "minimizedReason": input["classifier"].lower()}}

        result = graphql_sync(schema, req["query"], root_value={"minimizeComment": minimize},
                              variable_values=req.get("variables"))
        body = {"data": result.data}
        if result.errors:
            body["errors"] = [{"message": e.message} for e in result.errors]
        return self.send(200, body)

    def base_url(self):
        return "http://%s" % self.headers.get("Host")

    def control(self, method, path, raw):
        w = self.world
        with w.lock:
            if path == "/_control/state":
                return self.send(200, {
                    "comments": [{k: v for k, v in c.items() if k != "_repo"} for c in w.comments],
                    "labels": w.labels, "violations": w.violations, "log": w.log})
            if path == "/_control/merge" and method == "POST":
                m = json.loads(raw)
                w.merges[m["sha"]] = (m["pr"], m.get("merged", True))
                return self.send(200, {})
            if path == "/_control/seed" and method == "POST":
                seed = json.loads(raw)
                owner, repo = seed["repo"].split("/")
                w.labels.setdefault("%s/%s/issues/%s" % (owner, repo, seed["issue"]), []).extend(seed.get("labels", []))
                for body in seed.get("bodies", []):
                    w.comments.append({"id": w.next_id, "_issue": str(seed["issue"]), "_repo": (owner, repo),
                                       "body": body, "author": seed.get("author", "octocat"),
                                       "created_at": now(), "updated_at": now()})
                    w.next_id += 1
                return self.send(200, {})
            if path == "/_control/fail" and method == "POST":
                w.fail = json.loads(raw)
                return self.send(200, {})
        return self.send(404, {"message": "no such control"})

    def handle_safely(self, method):
        try:
            self.handle_any(method)
        except Exception as e:  # a bug here must fail the test, not hang up on the client
            self.world.violations.append("the stand-in failed on %s %s: %r" % (method, self.path, e))
            self.send(500, {"message": "stand-in error: %r" % e})

    def do_GET(self):
        self.handle_safely("GET")

    def do_POST(self):
        self.handle_safely("POST")

    def do_PATCH(self):
        self.handle_safely("PATCH")

    def do_DELETE(self):
        self.handle_safely("DELETE")

    def do_PUT(self):
        self.handle_safely("PUT")


def main():
    spec_path = sys.argv[1]
    prefix = sys.argv[sys.argv.index("--prefix") + 1] if "--prefix" in sys.argv else ""
    spec = json.load(open(spec_path, encoding="utf-8"))
    small = pruned(spec)
    Handler.world = World(small)
    Handler.openapi = OpenAPI.from_dict(small)
    Handler.prefix = prefix.rstrip("/")
    Handler.graphql_path = Handler.prefix[: -len("/v3")] + "/graphql" if Handler.prefix.endswith("/api/v3") else Handler.prefix + "/graphql"
    Handler.graphql_sdl = os.path.join(os.path.dirname(spec_path), "..", "..", "graphql-schema", "schema.graphql")
    Handler.graphql_schema = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
