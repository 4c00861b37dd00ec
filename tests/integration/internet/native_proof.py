#!/usr/bin/env python3
"""The simulated internet against the real OpenClaw gateway, run natively
(no VM): the gateway runs in a client namespace whose uplink is the
simulated internet, configured like clawfleet's guest renders it.

  sudo tests/integration/internet/native_proof.py OUTDIR [SCENARIO...]

SCENARIO is any of conversation, revoked, late-telegram, openai (default:
all, in that order). Needs root (network namespaces), Node 24 and the pinned
OpenClaw: NODE (default /tmp/imgopt/opt/node/bin/node) and OPENCLAW
(default /tmp/imgopt/opt/openclaw/node_modules/openclaw/openclaw.mjs).
Results: OUTDIR/results.json and one line a finding on stdout; every
gateway's own output and the stand-ins' logs stay in OUTDIR.

Names it creates and removes: namespaces cf-proof-inet and cf-proof-client,
/etc/netns/cf-proof-client. The gateways run under `nice -n 10`.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
INTERNET = os.path.join(HERE, "internet.sh")
NODE = os.environ.get("NODE", "/tmp/imgopt/opt/node/bin/node")
OPENCLAW = os.environ.get("OPENCLAW", "/tmp/imgopt/opt/openclaw/node_modules/openclaw/openclaw.mjs")
INET, CLIENT = "cf-proof-inet", "cf-proof-client"
BOT_TOKEN = "7000001:AAstand-in-bot-token"
ALLOWED, STRANGER = 424242001, 424242999
PORT = 18789
SERVICE_NET = os.environ.get("SERVICE_NET", "198.18.0")

RESULTS = {}


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, text=True, capture_output=True, **kw)


class Internet:
    def __init__(self, out):
        self.dir = os.path.join(out, "inet")

    def up(self):
        sh(INTERNET, "up", INET, self.dir, "--telegram-token", BOT_TOKEN, env=dict(os.environ, SERVICE_NET=SERVICE_NET))
        sh("ip", "netns", "add", CLIENT)
        sh("ip", "netns", "exec", CLIENT, "ip", "link", "set", "lo", "up")
        sh(INTERNET, "attach", INET, CLIENT)
        os.makedirs("/etc/netns/" + CLIENT, exist_ok=True)
        with open("/etc/netns/%s/resolv.conf" % CLIENT, "w") as f:
            f.write("nameserver %s.53\n" % SERVICE_NET)

    def down(self):
        sh(INTERNET, "down", INET, self.dir, check=False)
        sh("ip", "netns", "del", CLIENT, check=False)
        shutil.rmtree("/etc/netns/" + CLIENT, ignore_errors=True)

    def ctl(self, method, path, body=None):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(self.dir, "control.sock"))
        data = json.dumps(body).encode() if body is not None else b""
        s.sendall(("%s %s HTTP/1.1\r\nHost: c\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % (
            method, path, len(data))).encode() + data)
        raw = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            raw += b
        head, _, payload = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status >= 400:
            raise RuntimeError("control %s %s: %d %s" % (method, path, status, payload[:200]))
        return json.loads(payload)

    def mark(self):
        return self.ctl("GET", "/state")["log_entries"]

    def log(self, since=0, service=None):
        q = "/log?since=%d" % since + ("&service=" + service if service else "")
        return self.ctl("GET", q)

    def dns_queries(self):
        names = {}
        with open(os.path.join(self.dir, "dns.log")) as f:
            for line in f:
                if " query[" in line:
                    q = line.split(" query[", 1)[1]
                    kind, rest = q.split("] ", 1)
                    names.setdefault(rest.split(" ")[0], set()).add(kind)
        return {n: sorted(k) for n, k in sorted(names.items())}


def base_config(token, log_file):
    """What src/host/guest/seed.cc render_openclaw_config writes."""
    return {
        "gateway": {"mode": "local", "bind": "lan", "port": PORT,
                    "auth": {"mode": "token", "token": token}, "tailscale": {"mode": "off"}},
        "agents": {"defaults": {"model": {"primary": "anthropic/claude-sonnet-4-6"}}},
        "skills": {"allowBundled": ["github", "tmux"]},
        "update": {"checkOnStart": False},
        "models": {"catalogRefresh": {"enabled": False}},
        "logging": {"file": log_file},
    }


def with_telegram(c):
    c["channels"] = {"telegram": {"enabled": True, "botToken": BOT_TOKEN, "dmPolicy": "allowlist",
                                  "groupPolicy": "disabled", "allowFrom": [ALLOWED]}}
    c["plugins"] = {"entries": {"telegram": {"enabled": True}}}
    return c


class Gateway:
    """One gateway in the client namespace, environment as the guest unit
    (examples/guest-image/files/etc/systemd/system/openclaw-gateway.service)."""

    def __init__(self, out, name, config, keys, ca):
        self.dir = os.path.join(out, name)
        self.token = config["gateway"]["auth"]["token"]
        for d in ("home", "state", "tmp"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.config = os.path.join(self.dir, "openclaw.json")
        with open(self.config, "w") as f:
            json.dump(config, f, indent=2)
        env = {"PATH": "/usr/bin:/bin", "HOME": self.dir + "/home", "OPENCLAW_CONFIG_PATH": self.config,
               "OPENCLAW_STATE_DIR": self.dir + "/state", "TMPDIR": self.dir + "/tmp",
               "OPENCLAW_NO_AUTO_UPDATE": "1", "OPENCLAW_DISABLE_BONJOUR": "1",
               "OPENCLAW_SERVICE_REPAIR_POLICY": "external", "NODE_ENV": "production",
               "NODE_EXTRA_CA_CERTS": ca}
        env.update(keys)
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.t0 = time.time()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", CLIENT, "nice", "-n", "10", NODE, OPENCLAW, "gateway", "--bind", "lan",
             "--port", str(PORT)], env=env, cwd=self.dir + "/home", stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True)

    def since(self, t=None):
        return round((t or time.time()) - self.t0, 1)

    def http(self, path, token=True, method="GET", body=None, headers=()):
        args = ["ip", "netns", "exec", CLIENT, "curl", "-s", "-m", "120", "-o", "-", "-w", "\n%{http_code}",
                "-X", method]
        if token:
            args += ["-H", "Authorization: Bearer " + (self.token if token is True else token)]
        for h in headers:
            args += ["-H", h]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        r = subprocess.run(args + ["http://127.0.0.1:%d%s" % (PORT, path)], text=True, capture_output=True)
        text, _, code = r.stdout.rpartition("\n")
        try:
            return int(code), json.loads(text) if text else None
        except ValueError:
            return int(code or 0), text

    def wait(self, path, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited %s" % self.proc.returncode)
            code, body = self.http(path)
            if pred(code, body):
                return code, body
            time.sleep(1)
        raise RuntimeError("timeout waiting for %s" % path)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the gateway's own process group
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()


def wait_for(fn, timeout, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def telegram_calls(entries):
    return sorted({e["api"] or e["path"] for e in entries if e.get("service") == "telegram" and not e.get("event")})


def unexpected(entries):
    return [e for e in entries if e.get("unexpected")]


def started(gw, res):
    code, _ = gw.wait("/startupz", lambda c, b: c == 200, 300)
    res["startupz_200_after_s"] = gw.since()
    code, body = gw.wait("/readyz", lambda c, b: c in (200, 503), 60)
    return code, body


# --- scenarios -------------------------------------------------------------


def conversation(out, net):
    """a. an allowed user is answered with the model's nonce, the model saw
    the key; b. a stranger: no model call, and what the bot sends them;
    d'. the token revoked while polling."""
    res = RESULTS.setdefault("conversation", {})
    key = "sk-ant-proof-" + uuid.uuid4().hex[:12]
    nonce = "NONCE-" + uuid.uuid4().hex[:10]
    net.ctl("POST", "/model/reply", {"text": "The stand-in says " + nonce})
    net.ctl("POST", "/telegram/token", {"token": BOT_TOKEN, "state": "valid"})
    mark = net.mark()
    gw = Gateway(out, "gw-conversation", with_telegram(base_config("gw-token-" + uuid.uuid4().hex[:16],
                                                                   os.path.join(out, "gw-conversation.log"))),
                 {"ANTHROPIC_API_KEY": key}, os.path.join(net.dir, "certs", "ca.pem"))
    try:
        started(gw, res)
        gw.wait("/readyz", lambda c, b: c == 200, 180)
        res["readyz_200_after_s"] = gw.since()
        # Polling has begun: a getUpdates with a timeout is waiting.
        wait_for(lambda: any(e.get("api") == "getUpdates" for e in net.log(mark, "telegram")), 120)
        log("conversation: gateway ready after %ss" % res["readyz_200_after_s"])

        # a. allowed user
        t_in = time.time()
        m_a = net.mark()
        net.ctl("POST", "/telegram/update", {"user_id": ALLOWED, "text": "Please answer with the nonce."})

        def answered():
            return [m for m in net.ctl("GET", "/telegram/sent?chat_id=%d" % ALLOWED) if m["method"] == "sendMessage"]
        sent = wait_for(answered, 240)
        res["a_sent_texts"] = [m["text"] for m in sent or []]
        res["a_answered"] = bool(sent) and nonce in (sent[0]["text"] or "")
        if sent:
            res["a_reply_after_s"] = round(sent[0]["ts"] - t_in, 1)
            res["a_sendMessage"] = {k: sent[0]["params"].get(k) for k in sent[0]["params"]}
        time.sleep(5)  # late model calls (the activity recap)
        calls = [e for e in net.log(m_a, "anthropic") if e.get("api") == "messages"]
        res["a_model_calls"] = [{"model": e["model"], "stream": e["stream"], "key_ok": e["key"] == key,
                                 "purpose": "activity-recap" if "Activity recap" in e["body"] else "agent-turn"}
                                for e in calls]
        res["a_keys_seen"] = sorted({e["key"] for e in net.log(mark, "anthropic") if e.get("key")})
        res["a_key_exact"] = res["a_keys_seen"] == [key]
        log("a: answered=%s after %ss, model calls %s, key exact %s" % (
            res["a_answered"], res.get("a_reply_after_s"), [c["model"] for c in res["a_model_calls"]], res["a_key_exact"]))

        # b. a user not in allowFrom
        m_b = net.mark()
        net.ctl("POST", "/telegram/update", {"user_id": STRANGER, "text": "I am not on the list, STRANGER-TEXT"})
        # The update is fetched (a getUpdates returns it), then 45 s of quiet.
        wait_for(lambda: any(e.get("api") == "getUpdates" and e.get("updates") for e in net.log(m_b, "telegram")), 60)
        time.sleep(45)
        after = net.log(m_b)
        res["b_telegram_calls"] = [{"api": e["api"], "params": e.get("params"), "text": e.get("text")}
                                   for e in after if e.get("service") == "telegram" and e.get("api") not in (None, "getUpdates")]
        res["b_sent_to_stranger"] = net.ctl("GET", "/telegram/sent?chat_id=%d" % STRANGER)
        res["b_model_calls"] = len([e for e in after if e.get("service") in ("anthropic", "openai") and e.get("api") == "messages"])
        res["b_model_saw_stranger_text"] = any("STRANGER-TEXT" in (e.get("body") or "") for e in after
                                               if e.get("service") in ("anthropic", "openai"))
        log("b: calls to Telegram other than getUpdates %s, sent to stranger %s, model calls %d" % (
            [c["api"] for c in res["b_telegram_calls"]], res["b_sent_to_stranger"], res["b_model_calls"]))

        # d'. revoke the token while the gateway polls
        t_rev = time.time()
        net.ctl("POST", "/telegram/token", {"token": BOT_TOKEN, "state": "revoked"})
        code, body = gw.wait("/readyz", lambda c, b: c == 503, 120)
        res["revoked_while_running_readyz_503_after_s"] = round(time.time() - t_rev, 1)
        res["revoked_while_running_readyz"] = {"status": code, "ready": body.get("ready"), "failing": body.get("failing")}
        log("d': revoked while running: /readyz %d failing=%s after %ss" % (
            code, body.get("failing"), res["revoked_while_running_readyz_503_after_s"]))
        # ... and accepted again: does polling come back on its own?
        m_r = net.mark()
        t_ok = time.time()
        net.ctl("POST", "/telegram/token", {"token": BOT_TOKEN, "state": "valid"})
        back = wait_for(lambda: [e for e in net.log(m_r, "telegram") if e.get("status") == 200], 90, 2)
        res["revalidated_polling_back_within_90s"] = bool(back)
        if back:
            res["revalidated_polling_back_after_s"] = round(back[0]["ts"] - t_ok, 1)
        log("d': token valid again: Telegram called again within 90 s: %s" % bool(back))
        entries = net.log(mark)
        res["telegram_methods"] = telegram_calls(entries)
        res["urls"] = sorted({"%s https://%s%s" % (e["method"], e["host"], e["path"].split("?")[0].replace(BOT_TOKEN, "<token>"))
                              for e in entries if not e.get("event")})
        res["unexpected"] = unexpected(entries)
    finally:
        gw.stop()


def revoked(out, net):
    """d. the gateway starts with a token Telegram refuses (401)."""
    res = RESULTS.setdefault("revoked", {})
    net.ctl("POST", "/telegram/token", {"token": BOT_TOKEN, "state": "revoked"})
    mark = net.mark()
    gw = Gateway(out, "gw-revoked", with_telegram(base_config("gw-token-" + uuid.uuid4().hex[:16],
                                                              os.path.join(out, "gw-revoked.log"))),
                 {"ANTHROPIC_API_KEY": "sk-ant-unused"}, os.path.join(net.dir, "certs", "ca.pem"))
    try:
        code, body = started(gw, res)
        samples = []
        deadline = time.time() + 150
        while time.time() < deadline:
            code, body = gw.http("/readyz")
            samples.append((gw.since(), code, (body or {}).get("failing") if isinstance(body, dict) else body))
            if code == 503 and len([s for s in samples if s[1] == 503]) >= 3:
                break
            time.sleep(2)
        first503 = next((s for s in samples if s[1] == 503), None)
        res["readyz_samples"] = samples[:3] + samples[-3:]
        res["readyz_503_after_start_s"] = first503[0] if first503 else None
        res["readyz_failing"] = first503[2] if first503 else None
        res["readyz_body"] = gw.http("/readyz")[1]
        res["startupz"] = gw.http("/startupz")
        res["healthz"] = gw.http("/healthz", token=False)
        entries = net.log(mark, "telegram")
        res["telegram_calls"] = [(e["api"], e["status"]) for e in entries if not e.get("event")]
        log("d: revoked at start: startupz 200 after %ss, readyz 503 failing=%s after %ss; Telegram calls %s" % (
            res["startupz_200_after_s"], res["readyz_failing"], res["readyz_503_after_start_s"], res["telegram_calls"]))
    finally:
        gw.stop()
        net.ctl("POST", "/telegram/token", {"token": BOT_TOKEN, "state": "valid"})


def late_telegram(out, net, delay=float(os.environ.get("LATE_DELAY", "20"))):
    """e. the Telegram stand-in refuses connections when the gateway starts
    and comes up DELAY s after /startupz answers 200."""
    res = RESULTS.setdefault("late_telegram", {})
    net.ctl("POST", "/listen", {"service": "telegram", "up": False})
    mark = net.mark()
    gw = Gateway(out, "gw-late", with_telegram(base_config("gw-token-" + uuid.uuid4().hex[:16],
                                                           os.path.join(out, "gw-late.log"))),
                 {"ANTHROPIC_API_KEY": "sk-ant-unused"}, os.path.join(net.dir, "certs", "ca.pem"))
    try:
        code, body = started(gw, res)
        res["readyz_while_down"] = {"status": code, "failing": (body or {}).get("failing")}
        time.sleep(delay)
        res["readyz_before_up"] = gw.http("/readyz")[0]
        t_up = time.time()
        net.ctl("POST", "/listen", {"service": "telegram", "up": True})
        res["telegram_up_after_start_s"] = gw.since(t_up)

        def first(api):
            return [e for e in net.log(mark, "telegram") if e.get("api") == api and e.get("status") == 200]
        got = wait_for(lambda: first("getUpdates"), 600, 1)
        me = first("getMe")
        res["getMe_after_up_s"] = round(me[0]["ts"] - t_up, 1) if me else None
        res["getUpdates_after_up_s"] = round(got[0]["ts"] - t_up, 1) if got else None
        ready = wait_for(lambda: gw.http("/readyz")[0] == 200, 120, 1)
        res["readyz_200_after_up_s"] = round(time.time() - t_up, 1) if ready else None
        code, body = gw.http("/readyz")
        res["readyz_at_end"] = {"status": code, "failing": (body or {}).get("failing"), "after_start_s": gw.since()}
        with open(os.path.join(gw.dir, "stdout.log")) as f:
            res["gateway_telegram_lines"] = [l.strip()[:220] for l in f if "[telegram]" in l or "health-monitor" in l]
        log("e: Telegram up %ss after start; getMe %ss, first getUpdates %ss, readyz 200 %ss after it came up" % (
            res["telegram_up_after_start_s"], res["getMe_after_up_s"], res["getUpdates_after_up_s"], res["readyz_200_after_up_s"]))
    finally:
        gw.stop()
        net.ctl("POST", "/listen", {"service": "telegram", "up": True})


def openai(out, net):
    """c. an openai/* model with the OpenClaw runtime, asked through the
    gateway's OpenAI-compatible chat-completions endpoint."""
    res = RESULTS.setdefault("openai", {})
    key = "sk-proj-proof-" + uuid.uuid4().hex[:12]
    nonce = "NONCE-" + uuid.uuid4().hex[:10]
    net.ctl("POST", "/model/reply", {"text": "OpenAI stand-in " + nonce, "provider": "openai"})
    model = os.environ.get("OPENAI_MODEL", "openai/gpt-5.5")
    c = base_config("gw-token-" + uuid.uuid4().hex[:16], os.path.join(out, "gw-openai.log"))
    c["agents"]["defaults"]["model"]["primary"] = model
    c["agents"]["defaults"]["models"] = {model: {"agentRuntime": {"id": "openclaw"}}}
    c["gateway"]["http"] = {"endpoints": {"chatCompletions": {"enabled": True}}}
    mark = net.mark()
    gw = Gateway(out, "gw-openai", c, {"OPENAI_API_KEY": key}, os.path.join(net.dir, "certs", "ca.pem"))
    try:
        code, body = started(gw, res)
        res["readyz_at_start"] = {"status": code, "failing": (body or {}).get("failing")}
        req = {"model": "openclaw", "messages": [{"role": "user", "content": "Answer with the nonce."}]}
        t = time.time()
        code, body = gw.http("/v1/chat/completions", method="POST", body=req)
        res["with_token"] = {"status": code, "after_s": round(time.time() - t, 1),
                             "content": (body or {}).get("choices", [{}])[0].get("message", {}).get("content")
                             if isinstance(body, dict) else body}
        res["with_token_has_nonce"] = nonce in str(res["with_token"]["content"])
        res["without_token"] = gw.http("/v1/chat/completions", token=False, method="POST", body=req)
        res["wrong_token"] = gw.http("/v1/chat/completions", token="not-the-token", method="POST", body=req)
        res["stream_with_token"] = gw.http("/v1/chat/completions", method="POST", body=dict(req, stream=True))[0]
        entries = net.log(mark)
        res["model_calls"] = [{"api": e["api"], "model": e.get("model"), "stream": e.get("stream"), "key_ok": e.get("key") == key}
                              for e in entries if e.get("service") == "openai" and not e.get("event")]
        res["keys_seen"] = sorted({e["key"] for e in entries if e.get("service") == "openai" and e.get("key")})
        res["key_exact"] = res["keys_seen"] == [key]
        res["unexpected"] = unexpected(entries)
        res["codex_install_attempted"] = any("codex" in l.lower() and "install" in l.lower()
                                             for l in open(os.path.join(gw.dir, "stdout.log")))
        log("c: with token %s (%ss, nonce %s), without %s, wrong token %s; OpenAI calls %s; key exact %s" % (
            res["with_token"]["status"], res["with_token"]["after_s"], res["with_token_has_nonce"],
            res["without_token"][0], res["wrong_token"][0], [(m["api"], m["model"]) for m in res["model_calls"]],
            res["key_exact"]))
    finally:
        gw.stop()


SCENARIOS = {"conversation": conversation, "revoked": revoked, "late-telegram": late_telegram, "openai": openai}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(SCENARIOS)
    os.makedirs(out, exist_ok=True)
    net = Internet(out)
    net.up()
    try:
        for n in names:
            log("scenario " + n)
            try:
                SCENARIOS[n](out, net)
            except Exception as e:
                RESULTS.setdefault(n.replace("-", "_"), {})["error"] = repr(e)
                log("scenario %s failed: %r" % (n, e))
        RESULTS["dns_queries"] = net.dns_queries()
        RESULTS["unexpected_calls"] = unexpected(net.log())
        RESULTS["offnet_destinations"] = [l for l in sh(INTERNET, "offnet", INET, check=False).stdout.split("\n") if l]
    finally:
        net.down()
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(RESULTS, f, indent=1, sort_keys=True, default=str)
    log("results: " + os.path.join(out, "results.json"))


if __name__ == "__main__":
    main()
