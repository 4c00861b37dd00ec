#!/usr/bin/env python3
"""Stand-ins for the internet services an OpenClaw gateway talks to.

One process serves HTTPS on port 443 of several addresses, one service per
address, each with a leaf certificate for the real host name (signed by the
test CA that internet.sh makes at test time):

  telegram   Telegram Bot API          /bot<token>/<method>
  anthropic  Anthropic Messages API    POST /v1/messages (SSE when stream:true)
  openai     OpenAI                    POST /v1/responses, /v1/chat/completions

Every call is logged as one JSON line (requests.jsonl in --dir). A call the
stand-in does not know (path, HTTP method or Bot API method) is answered 404
and logged with "unexpected": true, so a test can fail on it.

A control interface (HTTP over the unix socket control.sock in --dir) lets
the test inject Telegram updates, choose the model's reply, read the log,
revoke or accept bot tokens, and take a service's listener down and up
again (a closed listener refuses connections). See README.md.

  standin.py serve --dir DIR --service telegram=198.51.100.10=api.telegram.org ...
  standin.py ctl DIR METHOD PATH [JSON]

Python standard library only.
"""

import argparse
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY_LOG_LIMIT = 2000
LONG_POLL_CAP = 60.0  # seconds; the real API caps getUpdates' timeout at 50


def now_iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


class State:
    """Everything the services share, guarded by one lock."""

    def __init__(self, directory, telegram_tokens, reply):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.dir = directory
        self.log_path = os.path.join(directory, "requests.jsonl")
        self.log_file = open(self.log_path, "a", buffering=1)
        self.entries = []
        self.bodies = {}  # seq -> a call's whole request body (the log keeps its start)
        # Bot tokens: token -> "valid" | "revoked". Any token not listed is
        # unknown to Telegram and answered 401 like a revoked one.
        self.tokens = {t: "valid" for t in telegram_tokens}
        self.updates = []  # pending Update objects, ascending update_id
        self.next_update_id = 100000001
        self.next_message_id = 1
        self.sent = []  # what the bot sent (sendMessage and friends)
        self.poll_generation = {}  # token -> generation of the newest getUpdates
        self.replies = {"anthropic": reply, "openai": reply}
        self.expected_keys = {}  # provider -> key; a different key gets 401
        # What GET /v1/models lists (OpenClaw's live model discovery).
        self.models = {"anthropic": ["claude-sonnet-4-6", "claude-opus-4-6"], "openai": ["gpt-5.5", "gpt-5.4"]}
        self.stopping = False

    def log(self, entry, body=None):
        with self.lock:
            entry["seq"] = len(self.entries)
            self.entries.append(entry)
            if body:
                self.bodies[entry["seq"]] = body
            self.log_file.write(json.dumps(entry, sort_keys=True) + "\n")


STATE = None  # set in serve()


# --- helpers -------------------------------------------------------------


def truncate(raw):
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= BODY_LOG_LIMIT else text[:BODY_LOG_LIMIT] + "...(%d bytes)" % len(raw)


def parse_params(handler, raw):
    """Telegram accepts query strings, JSON, urlencoded and multipart bodies."""
    params = {}
    query = urllib.parse.urlsplit(handler.path).query
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        params[k] = v
    ctype = (handler.headers.get("Content-Type") or "").lower()
    if not raw:
        return params
    if ctype.startswith("application/json"):
        body = json.loads(raw.decode("utf-8"))
        if isinstance(body, dict):
            params.update(body)
    elif ctype.startswith("application/x-www-form-urlencoded"):
        for k, v in urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
            params[k] = v
    elif ctype.startswith("multipart/form-data"):
        full = handler.headers.get("Content-Type")
        boundary = full.split("boundary=", 1)[1].split(";")[0].strip().strip('"') if "boundary=" in full else ""
        for part in raw.split(b"--" + boundary.encode()):
            head, sep, value = part.partition(b"\r\n\r\n")
            if not sep:
                continue
            name = None
            for line in head.decode("utf-8", "replace").split("\r\n"):
                if line.lower().startswith("content-disposition:") and 'name="' in line:
                    name = line.split('name="', 1)[1].split('"', 1)[0]
            if name is not None:
                params[name] = (value[:-2] if value.endswith(b"\r\n") else value).decode("utf-8", "replace")
    return params


def as_int(v, default=None):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def as_json(v):
    """Bot API parameters that are objects arrive JSON-encoded in forms."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


# --- HTTPS services -------------------------------------------------------


class ServiceHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "clawfleet-standin"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    # Each service's handle() returns nothing; it fills self.entry and sends.
    def dispatch(self):
        t0 = time.time()
        length = as_int(self.headers.get("Content-Length"), 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self.read_chunked()
        self.raw = raw
        self.entry = {
            "t": now_iso(t0),
            "ts": round(t0, 3),
            "service": self.server.service,
            "host": self.headers.get("Host", ""),
            "listen": self.server.server_address[0],
            "peer": self.client_address[0],
            "method": self.command,
            "path": self.path,
            "api": None,
            "key": None,
            "body": truncate(raw),
            "unexpected": False,
        }
        self.status = None
        try:
            getattr(self, "serve_" + self.server.service)()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
            self.entry["error"] = "client went away: %s" % e
        except Exception as e:  # a bug in the stand-in: say so, answer 500
            self.entry["error"] = "stand-in error: %r" % e
            try:
                self.send_json(500, {"error": "stand-in error"})
            except Exception:
                pass
        self.entry["status"] = self.status
        self.entry["ms"] = int((time.time() - t0) * 1000)
        STATE.log(self.entry, raw)

    def read_chunked(self):
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.status = code
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def unexpected(self, why, obj=None):
        self.entry["unexpected"] = True
        self.entry["why"] = why
        self.send_json(404, obj if obj is not None else {"error": "not found", "why": why})

    # -- SSE -------------------------------------------------------------
    def start_sse(self, headers=None):
        self.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_sse(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def sse(self, event, obj):
        text = ("event: %s\n" % event if event else "") + "data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n"
        self.chunk(text.encode())

    def json_body(self):
        try:
            body = json.loads(self.raw.decode("utf-8") or "{}")
            return body if isinstance(body, dict) else {}
        except ValueError:
            return None

    # -- Telegram Bot API ------------------------------------------------
    TELEGRAM_METHODS = (
        "getMe", "deleteWebhook", "getUpdates", "sendMessage", "sendChatAction",
        "setMyCommands", "deleteMyCommands", "getMyCommands", "getWebhookInfo",
        "setMessageReaction", "editMessageText", "deleteMessage", "sendMessageDraft",
    )

    def serve_telegram(self):
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        # ["", "bot<token>", "<method>"]
        if len(parts) != 3 or not parts[1].startswith("bot"):
            return self.unexpected("not a Bot API path", {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = parts[1][3:], parts[2]
        self.entry["key"] = token
        self.entry["api"] = method
        try:
            params = parse_params(self, self.raw)
        except ValueError:
            return self.send_json(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse JSON"})
        self.entry["params"] = {k: v for k, v in params.items() if k != "text"}
        with STATE.lock:
            valid = STATE.tokens.get(token) == "valid"
        if not valid:
            return self.send_json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        # Method names are case-insensitive at the real API; keep them exact here.
        if method not in self.TELEGRAM_METHODS:
            return self.unexpected("unknown Bot API method", {"ok": False, "error_code": 404, "description": "Not Found"})
        getattr(self, "tg_" + method)(token, params)

    def tg_ok(self, result):
        self.send_json(200, {"ok": True, "result": result})

    def tg_bad(self, description):
        self.send_json(400, {"ok": False, "error_code": 400, "description": "Bad Request: " + description})

    def bot_user(self, token):
        bot_id = as_int(token.split(":", 1)[0], 1)
        return {"id": bot_id, "is_bot": True, "first_name": "Stand-in bot", "username": "standin_%d_bot" % bot_id}

    def tg_getMe(self, token, p):
        u = self.bot_user(token)
        u.update({"can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
                  "can_connect_to_business": False, "has_main_web_app": False})
        self.tg_ok(u)

    def tg_deleteWebhook(self, token, p):
        self.tg_ok(True)

    def tg_getWebhookInfo(self, token, p):
        self.tg_ok({"url": "", "has_custom_certificate": False, "pending_update_count": len(STATE.updates)})

    def tg_setMyCommands(self, token, p):
        self.tg_ok(True)

    def tg_deleteMyCommands(self, token, p):
        self.tg_ok(True)

    def tg_getMyCommands(self, token, p):
        self.tg_ok([])

    def tg_sendChatAction(self, token, p):
        if p.get("chat_id") in (None, ""):
            return self.tg_bad("chat_id is empty")
        self.tg_ok(True)

    def tg_setMessageReaction(self, token, p):
        self.tg_ok(True)

    def tg_deleteMessage(self, token, p):
        self.tg_ok(True)

    def tg_sendMessageDraft(self, token, p):
        self.tg_ok(True)

    def message(self, token, p, message_id=None):
        chat_id = p.get("chat_id")
        if chat_id in (None, ""):
            return None
        with STATE.lock:
            if message_id is None:
                message_id = STATE.next_message_id
                STATE.next_message_id += 1
        cid = as_int(chat_id, chat_id)
        msg = {"message_id": message_id, "from": self.bot_user(token),
               "chat": {"id": cid, "type": "private" if isinstance(cid, int) and cid > 0 else "group"},
               "date": int(time.time()), "text": p.get("text", "")}
        return msg

    def tg_sendMessage(self, token, p):
        if not p.get("text"):
            return self.tg_bad("message text is empty")
        msg = self.message(token, p)
        if msg is None:
            return self.tg_bad("chat_id is empty")
        self.entry["text"] = p.get("text")
        with STATE.lock:
            STATE.sent.append({"method": "sendMessage", "chat_id": msg["chat"]["id"], "message_id": msg["message_id"],
                               "text": p.get("text"), "params": {k: as_json(v) for k, v in p.items()}, "ts": self.entry["ts"]})
        self.tg_ok(msg)

    def tg_editMessageText(self, token, p):
        msg = self.message(token, p, as_int(p.get("message_id"), 0))
        if msg is None:
            return self.tg_bad("chat_id is empty")
        self.entry["text"] = p.get("text")
        with STATE.lock:
            STATE.sent.append({"method": "editMessageText", "chat_id": msg["chat"]["id"], "message_id": msg["message_id"],
                               "text": p.get("text"), "params": {k: as_json(v) for k, v in p.items()}, "ts": self.entry["ts"]})
        self.tg_ok(msg)

    def tg_getUpdates(self, token, p):
        offset = as_int(p.get("offset"))
        limit = max(1, min(100, as_int(p.get("limit"), 100)))
        timeout = max(0.0, min(LONG_POLL_CAP, float(as_int(p.get("timeout"), 0))))
        deadline = time.time() + timeout
        with STATE.cond:
            gen = STATE.poll_generation.get(token, 0) + 1
            STATE.poll_generation[token] = gen
            STATE.cond.notify_all()  # an older poll of this token ends with 409
            while True:
                if STATE.tokens.get(token) != "valid":
                    result = None
                    break
                if STATE.poll_generation.get(token) != gen:
                    result = "conflict"
                    break
                if offset is not None:
                    if offset < 0:
                        STATE.updates = STATE.updates[offset:]
                    else:
                        STATE.updates = [u for u in STATE.updates if u["update_id"] >= offset]
                if STATE.updates or STATE.stopping:
                    result = STATE.updates[:limit]
                    break
                left = deadline - time.time()
                if left <= 0:
                    result = []
                    break
                STATE.cond.wait(left)
        if result is None:
            return self.send_json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if result == "conflict":
            return self.send_json(409, {"ok": False, "error_code": 409, "description":
                                        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})
        self.entry["updates"] = [u["update_id"] for u in result]
        self.tg_ok(result)

    # -- Anthropic Messages API ------------------------------------------
    def serve_anthropic(self):
        path = urllib.parse.urlsplit(self.path).path
        key = self.headers.get("x-api-key")
        self.entry["key"] = key
        if not key and (self.headers.get("Authorization") or "").startswith("Bearer "):
            self.entry["key"] = self.headers["Authorization"][7:]
            self.entry["key_header"] = "authorization"
        if self.command == "GET" and path == "/v1/models":
            self.entry["api"] = "models.list"
            with STATE.lock:
                ids = list(STATE.models["anthropic"])
            data = [{"type": "model", "id": i, "display_name": i, "created_at": "2026-01-01T00:00:00Z"} for i in ids]
            return self.send_json(200, {"data": data, "has_more": False,
                                        "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None})
        if self.command == "POST" and path == "/v1/messages/count_tokens":
            self.entry["api"] = "messages.count_tokens"
            return self.send_json(200, {"input_tokens": max(1, len(self.raw) // 4)})
        if self.command != "POST" or path != "/v1/messages":
            return self.unexpected("unknown Anthropic endpoint",
                                   {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})
        self.entry["api"] = "messages"
        body = self.json_body()
        if body is None:
            return self.send_json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "invalid JSON"}})
        with STATE.lock:
            expected = STATE.expected_keys.get("anthropic")
            text = STATE.replies["anthropic"]
        if expected is not None and self.entry["key"] != expected:
            return self.send_json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        model = body.get("model", "")
        stream = bool(body.get("stream"))
        self.entry["model"] = model
        self.entry["stream"] = stream
        self.entry["reply"] = text
        mid = "msg_standin_" + uuid.uuid4().hex[:20]
        rid = "req_standin_" + uuid.uuid4().hex[:20]
        in_tokens = max(1, len(self.raw) // 4)
        out_tokens = max(1, len(text) // 4)
        if not stream:
            return self.send_json(200, {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": in_tokens, "output_tokens": out_tokens,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            }, {"request-id": rid})
        self.start_sse({"request-id": rid})
        self.sse("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": in_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
        self.sse("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}})
        self.sse("ping", {"type": "ping"})
        for piece in split_text(text):
            self.sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": piece}})
        self.sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        self.sse("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                   "usage": {"output_tokens": out_tokens}})
        self.sse("message_stop", {"type": "message_stop"})
        self.end_sse()

    # -- OpenAI ----------------------------------------------------------
    def serve_openai(self):
        path = urllib.parse.urlsplit(self.path).path
        auth = self.headers.get("Authorization") or ""
        self.entry["key"] = auth[7:] if auth.startswith("Bearer ") else (auth or None)
        if self.command == "GET" and path == "/v1/models":
            self.entry["api"] = "models.list"
            with STATE.lock:
                ids = list(STATE.models["openai"])
            return self.send_json(200, {"object": "list", "data": [
                {"id": i, "object": "model", "created": 1767225600, "owned_by": "system"} for i in ids]})
        routes = {"/v1/responses": self.openai_responses, "/v1/chat/completions": self.openai_chat,
                  "/v1/embeddings": self.openai_embeddings}
        if self.command != "POST" or path not in routes:
            return self.unexpected("unknown OpenAI endpoint", {"error": {
                "message": "Invalid URL (%s %s)" % (self.command, path), "type": "invalid_request_error",
                "param": None, "code": None}})
        self.entry["api"] = path[4:].replace("/", ".")
        body = self.json_body()
        if body is None:
            return self.send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        with STATE.lock:
            expected = STATE.expected_keys.get("openai")
            text = STATE.replies["openai"]
        if expected is not None and self.entry["key"] != expected:
            return self.send_json(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                                  "param": None, "code": "invalid_api_key"}})
        self.entry["model"] = body.get("model", "")
        self.entry["stream"] = bool(body.get("stream"))
        self.entry["reply"] = text
        routes[path](body, text)

    def openai_embeddings(self, body, text):
        """Memory indexing (OpenClaw's memory-core) embeds with the OpenAI
        key when there is one. Vectors are deterministic, unit length."""
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        dims = as_int(body.get("dimensions"), 1536)
        data = []
        for i, item in enumerate(inputs):
            seed = sum(ord(c) for c in str(item)) or 1
            vec = [((seed * (k + 1) * 2654435761) % 1000) / 1000.0 - 0.5 for k in range(dims)]
            norm = sum(v * v for v in vec) ** 0.5 or 1.0
            data.append({"object": "embedding", "index": i, "embedding": [round(v / norm, 6) for v in vec]})
        self.entry.pop("reply", None)
        self.entry["inputs"] = len(inputs)
        tokens = max(1, len(self.raw) // 4)
        self.send_json(200, {"object": "list", "data": data, "model": body.get("model", ""),
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def openai_chat(self, body, text):
        model = body.get("model", "")
        cid = "chatcmpl-standin" + uuid.uuid4().hex[:16]
        created = int(time.time())
        usage = {"prompt_tokens": max(1, len(self.raw) // 4), "completion_tokens": max(1, len(text) // 4)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            return self.send_json(200, {"id": cid, "object": "chat.completion", "created": created, "model": model,
                                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                     "finish_reason": "stop", "logprobs": None}],
                                        "usage": usage})
        self.start_sse()

        def chunk(delta, finish=None):
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        self.sse(None, chunk({"role": "assistant", "content": ""}))
        for piece in split_text(text):
            self.sse(None, chunk({"content": piece}))
        self.sse(None, chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            self.sse(None, {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [], "usage": usage})
        self.sse(None, "[DONE]")
        self.end_sse()

    def openai_responses(self, body, text):
        model = body.get("model", "")
        rid = "resp_standin" + uuid.uuid4().hex[:24]
        iid = "msg_standin" + uuid.uuid4().hex[:24]
        created = int(time.time())
        in_tok, out_tok = max(1, len(self.raw) // 4), max(1, len(text) // 4)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {"id": iid, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        base = {"id": rid, "object": "response", "created_at": created, "model": model, "error": None,
                "incomplete_details": None, "instructions": None, "metadata": {}, "parallel_tool_calls": True,
                "tool_choice": body.get("tool_choice", "auto"), "tools": [], "temperature": None, "top_p": None,
                "store": bool(body.get("store", False)), "previous_response_id": body.get("previous_response_id")}
        done = dict(base, status="completed", output=[item],
                    usage={"input_tokens": in_tok, "input_tokens_details": {"cached_tokens": 0},
                           "output_tokens": out_tok, "output_tokens_details": {"reasoning_tokens": 0},
                           "total_tokens": in_tok + out_tok})
        if not body.get("stream"):
            return self.send_json(200, done)
        self.start_sse()
        seq = iter(range(1 << 30))

        def ev(kind, **fields):
            self.sse(kind, dict(type=kind, sequence_number=next(seq), **fields))

        pending = dict(base, status="in_progress", output=[], usage=None)
        ev("response.created", response=pending)
        ev("response.in_progress", response=pending)
        ev("response.output_item.added", output_index=0,
           item={"id": iid, "type": "message", "status": "in_progress", "role": "assistant", "content": []})
        ev("response.content_part.added", item_id=iid, output_index=0, content_index=0,
           part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        for piece in split_text(text):
            ev("response.output_text.delta", item_id=iid, output_index=0, content_index=0, delta=piece, logprobs=[])
        ev("response.output_text.done", item_id=iid, output_index=0, content_index=0, text=text, logprobs=[])
        ev("response.content_part.done", item_id=iid, output_index=0, content_index=0, part=part)
        ev("response.output_item.done", output_index=0, item=item)
        ev("response.completed", response=done)
        self.end_sse()


def split_text(text):
    """A reply in a few deltas, as a real stream would come."""
    words = text.split(" ")
    out = []
    for i, w in enumerate(words):
        out.append(w if i == len(words) - 1 else w + " ")
    return [p for p in out if p] or [""]


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, service, host, context):
        self.service, self.host_name, self.context = service, host, context
        super().__init__(addr, ServiceHandler)

    # The TLS handshake runs in the request's thread, not in accept().
    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            # A client that closes a connection before (or instead of) the
            # handshake, e.g. an idle pooled socket, is not an error; a
            # handshake that fails (e.g. the client does not trust the CA:
            # "alert unknown ca") is.
            eof = isinstance(e, (ssl.SSLEOFError, ConnectionResetError, TimeoutError)) or "EOF" in str(e)
            t = time.time()
            STATE.log({"t": now_iso(t), "ts": round(t, 3), "service": self.service, "listen": self.server_address[0],
                       "peer": client_address[0], "event": "tls_eof" if eof else "tls_error", "error": str(e), "unexpected": not eof})
            return
        tls.settimeout(LONG_POLL_CAP + 30)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class Listener:
    """One service's listening socket, which the control interface can close
    (connections are then refused) and open again."""

    def __init__(self, service, address, host, directory):
        self.service, self.address, self.host = service, address, host
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(os.path.join(directory, "certs", host + ".pem"),
                                     os.path.join(directory, "certs", host + ".key"))
        self.server = None
        self.thread = None

    def up(self):
        if self.server:
            return
        self.server = TLSServer((self.address, 443), self.service, self.host, self.context)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    def down(self):
        if not self.server:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None


# --- control interface ----------------------------------------------------


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def address_string(self):
        return "control"

    def reply(self, code, obj):
        body = (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/log":
            since = as_int(q.get("since"), 0)
            with STATE.lock:
                entries = STATE.entries[since:]
            if q.get("service"):
                entries = [e for e in entries if e.get("service") == q["service"]]
            if q.get("unexpected"):
                entries = [e for e in entries if e.get("unexpected")]
            return self.reply(200, entries)
        if url.path == "/search":
            # The calls whose whole request body holds the text (the log
            # keeps only a body's start).
            needle = q.get("text", "").encode()
            with STATE.lock:
                seqs = sorted(n for n, b in STATE.bodies.items() if needle and needle in b)
            return self.reply(200, seqs)
        if url.path == "/telegram/sent":
            with STATE.lock:
                sent = list(STATE.sent)
            if q.get("chat_id"):
                sent = [m for m in sent if str(m["chat_id"]) == q["chat_id"]]
            return self.reply(200, sent)
        if url.path == "/state":
            with STATE.lock:
                return self.reply(200, {
                    "tokens": STATE.tokens, "pending_updates": [u["update_id"] for u in STATE.updates],
                    "replies": STATE.replies, "expected_keys": STATE.expected_keys, "models": STATE.models,
                    "listeners": {n: bool(l.server) for n, l in LISTENERS.items()},
                    "log_entries": len(STATE.entries)})
        self.reply(404, {"error": "unknown control path " + url.path})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = as_int(self.headers.get("Content-Length"), 0)
        try:
            body = json.loads(self.rfile.read(length).decode() or "{}") if length else {}
        except ValueError:
            return self.reply(400, {"error": "body is not JSON"})
        if url.path == "/telegram/update":
            return self.inject(body)
        if url.path == "/telegram/token":
            token, state = body.get("token"), body.get("state", "valid")
            if not token or state not in ("valid", "revoked"):
                return self.reply(400, {"error": 'want {"token": T, "state": "valid"|"revoked"}'})
            with STATE.cond:
                STATE.tokens[token] = state
                STATE.cond.notify_all()
            return self.reply(200, {"token": token, "state": state})
        if url.path == "/model/reply":
            text = body.get("text")
            providers = [body["provider"]] if body.get("provider") else list(STATE.replies)
            if not isinstance(text, str) or any(p not in STATE.replies for p in providers):
                return self.reply(400, {"error": 'want {"text": T, "provider"?: "anthropic"|"openai"}'})
            with STATE.lock:
                for p in providers:
                    STATE.replies[p] = text
            return self.reply(200, {"replies": STATE.replies})
        if url.path == "/model/key":
            provider, key = body.get("provider"), body.get("key")
            if provider not in STATE.replies:
                return self.reply(400, {"error": 'want {"provider": "anthropic"|"openai", "key": K|null}'})
            with STATE.lock:
                if key is None:
                    STATE.expected_keys.pop(provider, None)
                else:
                    STATE.expected_keys[provider] = key
            return self.reply(200, {"expected_keys": STATE.expected_keys})
        if url.path == "/model/models":
            provider, ids = body.get("provider"), body.get("ids")
            if provider not in STATE.models or not isinstance(ids, list):
                return self.reply(400, {"error": 'want {"provider": "anthropic"|"openai", "ids": [...]}'})
            with STATE.lock:
                STATE.models[provider] = [str(i) for i in ids]
            return self.reply(200, {"models": STATE.models})
        if url.path == "/listen":
            name, up = body.get("service"), body.get("up")
            if name not in LISTENERS or not isinstance(up, bool):
                return self.reply(400, {"error": 'want {"service": NAME, "up": true|false}'})
            try:
                LISTENERS[name].up() if up else LISTENERS[name].down()
            except OSError as e:
                return self.reply(500, {"error": str(e)})
            t = time.time()
            STATE.log({"t": now_iso(t), "ts": round(t, 3), "service": name, "event": "listen-up" if up else "listen-down",
                       "unexpected": False})
            return self.reply(200, {"service": name, "up": up})
        self.reply(404, {"error": "unknown control path " + url.path})

    def inject(self, body):
        """A message from a Telegram user to the bot, or a raw Update."""
        with STATE.cond:
            uid = STATE.next_update_id
            STATE.next_update_id += 1
            if isinstance(body.get("update"), dict):
                update = dict(body["update"], update_id=uid)
            else:
                user_id, text = as_int(body.get("user_id")), body.get("text")
                if user_id is None or not isinstance(text, str):
                    return self.reply(400, {"error": 'want {"user_id": N, "text": T, "chat_id"?: N} or {"update": {...}}'})
                chat_id = as_int(body.get("chat_id"), user_id)
                user = {"id": user_id, "is_bot": False, "first_name": body.get("first_name", "User%d" % user_id),
                        "username": body.get("username", "user%d" % user_id), "language_code": "en"}
                chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group",
                        "first_name": user["first_name"], "username": user["username"]}
                message = {"message_id": as_int(body.get("message_id"), uid % 100000), "from": user, "chat": chat,
                           "date": int(time.time()), "text": text}
                if text.startswith("/"):
                    message["entities"] = [{"offset": 0, "length": len(text.split(" ")[0]), "type": "bot_command"}]
                update = {"update_id": uid, "message": message}
            STATE.updates.append(update)
            STATE.cond.notify_all()
        t = time.time()
        STATE.log({"t": now_iso(t), "ts": round(t, 3), "service": "telegram", "event": "inject", "update_id": uid,
                   "update": update, "unexpected": False})
        self.reply(200, {"update_id": uid, "update": update})


LISTENERS = {}


def serve(args):
    global STATE
    STATE = State(args.dir, args.telegram_token, args.reply)
    for spec in args.service:
        try:
            name, address, host = spec.split("=")
        except ValueError:
            sys.exit("--service wants NAME=ADDRESS=HOST, got " + spec)
        if name not in ("telegram", "anthropic", "openai"):
            sys.exit("unknown service " + name)
        LISTENERS[name] = Listener(name, address, host, args.dir)
    for name, listener in LISTENERS.items():
        if name not in args.down:
            listener.up()
    sock = os.path.join(args.dir, "control.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    control = ControlServer(sock, ControlHandler)
    os.chmod(sock, 0o600)
    t = time.time()
    STATE.log({"t": now_iso(t), "ts": round(t, 3), "event": "started", "services": args.service,
               "down": args.down, "unexpected": False})
    print("standin: serving %s; control %s" % (", ".join(args.service), sock), flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass


def ctl(args):
    """A tiny client for the control socket: prints the response body, exits
    non-zero on an HTTP error status."""
    sock = os.path.join(args.dir, "control.sock")
    body = (args.json or "").encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    req = "%s %s HTTP/1.1\r\nHost: control\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
        args.method, args.path, len(body))
    s.sendall(req.encode() + body)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    sys.stdout.write(payload.decode())
    sys.exit(0 if status < 400 else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True, help="state directory: certs/, requests.jsonl, control.sock")
    s.add_argument("--service", action="append", default=[], help="NAME=ADDRESS=HOST (telegram, anthropic, openai)")
    s.add_argument("--telegram-token", action="append", default=[], help="a bot token Telegram accepts")
    s.add_argument("--reply", default="stand-in model reply", help="the models' reply text")
    s.add_argument("--down", action="append", default=[], help="a service whose listener starts closed")
    c = sub.add_parser("ctl")
    c.add_argument("dir")
    c.add_argument("method")
    c.add_argument("path")
    c.add_argument("json", nargs="?")
    args = ap.parse_args()
    serve(args) if args.cmd == "serve" else ctl(args)


if __name__ == "__main__":
    main()
