"""A local receiver for each chat channel flinkform posts alerts to. Every request is
checked against its vendor's documented format and signature, here, independently of
flinkform's code (the signing below follows the vendors' own sample code); a request
that deviates is answered as the vendor answers a bad request and recorded as a
deviation.

- DingTalk custom robot: https://open.dingtalk.com/document/robots/custom-robot-access
  and "Custom robot security settings" (…/robots/customize-robot-security-settings):
  POST the webhook (access_token in the query) with Content-Type application/json;
  signed robots add `timestamp` (ms, within one hour of now) and `sign`, where
  string_to_sign = timestamp + "\n" + secret and
  sign = quote_plus(base64(HmacSHA256(key=secret, msg=string_to_sign))) (their Python
  sample). msgtype is one of text, link, markdown, actionCard, feedCard; markdown has a
  `title` and a `text`. Answers {"errcode": 0, "errmsg": "ok"}; a bad signature
  errcode 310000, too many messages errcode 130101 (20 a minute).
- WeCom group robot: https://developer.work.weixin.qq.com/document/path/91770
  POST the webhook (key in the query), JSON; msgtype text, markdown, markdown_v2, image,
  news, file, voice or template_card; markdown.content at most 4096 bytes (UTF-8).
  Answers {"errcode": 0, "errmsg": "ok"}; a bad message errcode 40008.
- Feishu / Lark custom bot: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
  POST the hook, JSON with msg_type (text, post, image, share_chat, interactive) and
  content (text: content.text); signed bots add `timestamp` (seconds, within one hour)
  and `sign` = base64(HmacSHA256(key=timestamp + "\n" + secret, msg=b"")) (their Python
  sample). Answers {"code": 0, "msg": "success", "data": {}}; a bad signature code 19021.
- Slack incoming webhooks: https://api.slack.com/messaging/webhooks
  POST JSON with Content-type application/json and a `text` (or `blocks`); answers 200
  "ok", a bad payload 400 "invalid_payload".
- flinkform's generic webhook (docs/serve.md): JSON {"version": 1, "alerts": [{...}],
  "text"}; signed with X-Flinkform-Timestamp (seconds) and X-Flinkform-Signature =
  "sha256=" + hex(HmacSHA256(key=secret, msg=timestamp + "." + body)).

Usage: receiver.py CONFIG_JSON. CONFIG holds the tokens and secrets, and `throttle`:
channels whose first request is answered as the vendor answers too many messages.
Prints the port; GET /_received and /_deviations answer what came.
"""

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG = json.loads(sys.argv[1])
LOCK = threading.Lock()
RECEIVED = []
DEVIATIONS = []
THROTTLED = set()


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, digestmod=hashlib.sha256).digest()


def fresh(ts: float) -> bool:
    return abs(time.time() - ts) < 3600


def dingtalk(query, headers, body):
    if query.get("access_token") != [CONFIG["dingtalk_token"]]:
        return 200, {"errcode": 300001, "errmsg": "token is not exist"}, "wrong access_token"
    secret = CONFIG.get("dingtalk_secret")
    if secret:
        ts = query.get("timestamp", [""])[0]
        sign = query.get("sign", [""])[0]
        string_to_sign = f"{ts}\n{secret}"
        expected = base64.b64encode(hmac_sha256(secret.encode(), string_to_sign.encode())).decode()
        if not ts.isdigit() or not fresh(int(ts) / 1000) or sign != expected:
            return 200, {"errcode": 310000, "errmsg": "sign not match"}, f"bad signature: ts={ts!r}"
    msg = body.get("msgtype")
    if msg not in ("text", "link", "markdown", "actionCard", "feedCard"):
        return 200, {"errcode": 40035, "errmsg": "invalid msgtype"}, f"msgtype {msg!r}"
    if msg == "markdown":
        md = body.get("markdown") or {}
        if not isinstance(md.get("title"), str) or not isinstance(md.get("text"), str) or not md["text"]:
            return 200, {"errcode": 40035, "errmsg": "missing markdown title or text"}, "markdown"
    if "dingtalk" in CONFIG.get("throttle", []) and "dingtalk" not in THROTTLED:
        THROTTLED.add("dingtalk")
        return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, None
    return 200, {"errcode": 0, "errmsg": "ok"}, None


def wecom(query, headers, body):
    if query.get("key") != [CONFIG["wecom_key"]]:
        return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, "wrong key"
    msg = body.get("msgtype")
    if msg not in ("text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"):
        return 200, {"errcode": 40008, "errmsg": "invalid message type"}, f"msgtype {msg!r}"
    if msg == "markdown":
        content = (body.get("markdown") or {}).get("content")
        if not isinstance(content, str) or not content or len(content.encode("utf-8")) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}, "content"
    return 200, {"errcode": 0, "errmsg": "ok"}, None


def feishu(query, headers, body):
    secret = CONFIG.get("feishu_secret")
    if secret:
        ts = str(body.get("timestamp", ""))
        string_to_sign = f"{ts}\n{secret}"
        expected = base64.b64encode(hmac_sha256(string_to_sign.encode(), b"")).decode()
        if not ts.isdigit() or not fresh(int(ts)) or body.get("sign") != expected:
            return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}, "bad signature"
    msg = body.get("msg_type")
    if msg not in ("text", "post", "image", "share_chat", "interactive"):
        return 200, {"code": 19002, "msg": "params error, msg_type need"}, f"msg_type {msg!r}"
    if msg == "text" and not isinstance((body.get("content") or {}).get("text"), str):
        return 200, {"code": 9499, "msg": "Bad Request"}, "content.text"
    return 200, {"code": 0, "msg": "success", "data": {}}, None


def slack(query, headers, body):
    if not isinstance(body.get("text"), str) and not isinstance(body.get("blocks"), list):
        return 400, "invalid_payload", "no text or blocks"
    return 200, "ok", None


def webhook(query, headers, body, raw):
    secret = CONFIG.get("webhook_secret")
    if secret:
        ts = headers.get("X-Flinkform-Timestamp", "")
        expected = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not ts.isdigit() or not fresh(int(ts)) or headers.get("X-Flinkform-Signature") != expected:
            return 401, {"error": "bad signature"}, "bad signature"
    alerts = body.get("alerts")
    shaped = isinstance(alerts, list) and alerts and all(isinstance(a, dict) and isinstance(a.get("on"), str) for a in alerts)
    if body.get("version") != 1 or not shaped or not isinstance(body.get("text"), str):
        return 400, {"error": "not a flinkform alert"}, "shape"
    return 200, {"ok": True}, None


ROUTES = {"dingtalk": dingtalk, "wecom": wecom, "feishu": feishu, "slack": slack, "webhook": webhook}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, payload):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            if self.path == "/_received":
                return self.answer(200, RECEIVED)
            if self.path == "/_deviations":
                return self.answer(200, DEVIATIONS)
        self.answer(404, {"error": "no such page"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        channel = url.path.strip("/").split("/")[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        deviation = None
        if channel not in ROUTES:
            status, payload, deviation = 404, {"error": "no such channel"}, f"path {url.path}"
        elif not (self.headers.get("Content-Type") or "").startswith("application/json"):
            status, payload, deviation = 400, {"error": "not JSON"}, f"Content-Type {self.headers.get('Content-Type')!r}"
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                status, payload, deviation = 400, {"error": "not a JSON object"}, "body"
            else:
                query = urllib.parse.parse_qs(url.query)
                handler = ROUTES[channel]
                args = (query, self.headers, body, raw) if channel == "webhook" else (query, self.headers, body)
                status, payload, deviation = handler(*args)
        with LOCK:
            if deviation:
                DEVIATIONS.append({"channel": channel, "why": deviation})
            elif status == 200 and payload not in ({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},):
                RECEIVED.append({"channel": channel, "body": json.loads(raw)})
        self.answer(status, payload)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
