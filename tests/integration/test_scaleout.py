# SPDX-License-Identifier: MIT
"""Scale-out on one machine: two "web hosts" (lighttpd + chatai.fcgi each, on their own
ports), two notifiers (one behind each web server), two AI workers, one PostgreSQL, one
Redis. See docs/scaleout.md.

What is checked:
- subscribers spread over both notifiers get every message and every typing event
  exactly once, in seq order; typing travels through Redis (seen on the channel);
- a notifier killed: its clients reconnect to the other one with `since` and miss
  nothing, get nothing twice;
- Redis killed mid-test: no message lost, typing keeps flowing (through PostgreSQL),
  /health says "redis": "down"; Redis back: notifiers resubscribe, typing through Redis
  again;
- rate limits are shared by both web servers (limit N: N allowed in total, not 2N),
  counted in Redis, and fall back to the PostgreSQL limiter while Redis is down.
"""

import signal
import threading
import time

import pytest

import harness
from redis_fixtures import RedisMonitor, RedisServer, WsClient, have_redis, health

pytestmark = pytest.mark.skipif(not have_redis(), reason="redis-server is not installed "
                                "(Debian package redis-server; scripts/test installs it)")

HIGH_LIMITS = {"CHATAI_RATE_LIMIT_DIALOGS": 100000, "CHATAI_RATE_LIMIT_MESSAGES": 100000,
               "CHATAI_RATE_LIMIT_TYPING": 100000, "CHATAI_RATE_LIMIT_LOGIN": 100000,
               "CHATAI_RATE_LIMIT_READS": 100000}


class Farm:
    """pg + redis + 2 x (notifier, lighttpd with chatai.fcgi) + 2 AI workers."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.pg = harness.Postgres(tmp / "pg").start()
        try:
            self.redis = RedisServer(tmp).start()
            self.env = {"CHATAI_REDIS_URL": self.redis.url(), **HIGH_LIMITS}
            self.notifiers = [self._add(harness.Notifier(self.pg, env=self.env).start())
                              for _ in range(2)]
            self.webs = [self._add(harness.WebServer("lighttpd", self.pg, n.port, env=self.env).start())
                         for n in self.notifiers]
            self.ais = [self._add(harness.AiWorker(self.pg, env=self.env).start()) for _ in range(2)]
            self.apis = [harness.Api(w.url) for w in self.webs]
            for api in self.apis:
                # Module-long sessions: no idle keep-alive connection that lighttpd may
                # close just as the next request (a POST, not retried) goes out.
                api.s.headers["Connection"] = "close"
            self.assistant = harness.make_assistant(self.pg, "Scale-out shop", greeting="Hello!")
            harness.add_knowledge(self.pg, self.assistant,
                                  [("What are your opening hours?", "We are open 9 to 5, Monday to Friday.")])
            harness.make_operator(self.pg, "ops@scale.example", "scale-password-1", "Olga", "admin")
            self.token = self.apis[0].login("ops@scale.example", "scale-password-1")
        except BaseException:
            self.stop()
            raise

    def _add(self, p):
        self.procs.append(p)
        return p

    def restart_notifier(self, i):
        """Start notifier i again on its port (after a kill)."""
        old = self.notifiers[i]
        old.stop()
        n = harness.Notifier(self.pg, port=old.port, env=self.env,
                             log_path=str(old.log_path)).start()
        self.procs[self.procs.index(old)] = n
        self.notifiers[i] = n
        return n

    def new_dialog(self, via=0, takeover=True):
        d, vt, _ = self.apis[via].create_dialog(self.assistant)
        if takeover:
            r = self.apis[via].op(self.token).post(f"/api/dialogs/{d}/takeover")
            assert r.status_code == 200, r.text
        return d, vt

    def stored(self, d):
        """[(seq, sender)] of dialog d, from the table."""
        return self.pg.sql("SELECT seq, sender FROM messages WHERE dialog_id = %s ORDER BY seq", d)

    def logs(self):
        return "\n".join(f"===== {p.name} {p.log_path}\n{p.log()[-8000:]}" for p in self.procs)

    def stop(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:
                pass
        for w in getattr(self, "webs", []):
            harness.shutil.rmtree(w.state, ignore_errors=True)
        if getattr(self, "redis", None):
            self.redis.stop()
        self.pg.destroy()


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    f = Farm(tmp_path_factory.mktemp("scaleout"))
    yield f
    f.stop()


@pytest.fixture(autouse=True)
def _logs_on_failure(request, farm):
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:  # the call phase was reported failed
        print(farm.logs())


def both_up(farm):
    return all(health(n.port).get("redis") == "up" for n in farm.notifiers)


def subscribe_everywhere(farm, d, vt, since=0):
    """One operator and one widget subscriber on each notifier (through each web server)."""
    admin = [WsClient(api.ws_dialog_url(d, farm.token, since=since)) for api in farm.apis]
    site = [WsClient(api.ws_widget_url(d, farm.assistant, vt, since=since)) for api in farm.apis]
    return admin, site


def expect_exactly(clients, seqs, timeout=15.0):
    for c in clients:
        c.wait(lambda c: len(c.seqs()) >= len(seqs), timeout=timeout, message=f"{len(seqs)} messages")
    time.sleep(0.3)  # anything extra (a duplicate) would arrive by now
    for c in clients:
        assert c.seqs() == seqs, f"{c.url.split('?')[0]}: got {c.seqs()}, want {seqs}"


def post_mixed(farm, d, vt, n, tag):
    """n messages, visitor and operator in turn, through both web servers."""
    for i in range(n):
        api = farm.apis[i % 2]
        if i % 2 == 0:
            r = api.visitor_post(d, vt, f"{tag} visitor {i}")
        else:
            r = api.operator_post(farm.token, d, f"{tag} operator {i}")
        assert r.status_code == 201, r.text


def typing_counts(clients, d, who, state):
    return [sum(1 for e in c.typing(d) if e["who"] == who and e["type"] == f"typing_{state}")
            for c in clients]


def each_once(admin, site, d, state):
    """The operator's typing reached both widgets once, the visitor's both operators once."""
    for group, who in ((site, "manager"), (admin, "user")):
        for c in group:
            c.wait(lambda c: typing_counts([c], d, who, state)[0] >= 1, message=f"{who} typing_{state}")
    time.sleep(0.3)  # a duplicate would arrive by now
    assert typing_counts(site, d, "manager", state) == [1, 1]
    assert typing_counts(admin, d, "user", state) == [1, 1]


def close_all(*groups):
    for g in groups:
        for c in g:
            c.close()


# ---------------------------------------------------------------------------------------


def test_health_reports_redis(farm):
    harness.wait_until(lambda: both_up(farm), timeout=10, message="notifiers subscribed to Redis")
    lone = harness.Notifier(farm.pg).start()  # no redis_url
    try:
        assert health(lone.port).get("redis") == "off"
    finally:
        lone.stop()


def test_every_message_and_typing_exactly_once_across_notifiers(farm):
    harness.wait_until(lambda: both_up(farm), timeout=10, message="notifiers subscribed to Redis")
    d, vt = farm.new_dialog()
    mon = RedisMonitor(farm.redis.port)
    admin, site = subscribe_everywhere(farm, d, vt)
    try:
        post_mixed(farm, d, vt, 12, "fanout")
        rows = farm.stored(d)
        expect_exactly(admin, [s for s, _ in rows])
        expect_exactly(site, [s for s, who in rows if who != "user"])

        # The operator types (through web server 0): each widget, on either notifier,
        # sees it once; operators do not. The visitor types (web server 1): the reverse.
        r = farm.apis[0].op(farm.token).post(f"/api/dialogs/{d}/typing", json={"state": "start"})
        assert r.status_code == 204, r.text
        r = farm.apis[1].s.post(f"/api/widget/dialogs/{d}/typing", json={"state": "start"},
                                headers={"X-Visitor-Token": vt})
        assert r.status_code == 204, r.text
        each_once(admin, site, d, "start")
        assert typing_counts(admin, d, "manager", "start") == [0, 0]
        assert typing_counts(site, d, "user", "start") == [0, 0]
        # ...and both went through Redis, not NOTIFY.
        harness.wait_until(lambda: len(mon.typing(d)) >= 2, timeout=5, message="typing on Redis")
        assert sorted((p["who"], p["state"]) for p in mon.typing(d)) == \
            [("manager", "start"), ("user", "start")]
        assert all(p["assistant_id"] == farm.assistant for p in mon.typing(d))

        # Typing sent on the sockets takes the same path (common/typing.h): through Redis,
        # once to each subscriber on either notifier. The widget on notifier 1 stops, the
        # operator on notifier 0 stops.
        site[1].send_json({"type": "typing_stop"})
        admin[0].send_json({"type": "typing_stop"})
        each_once(admin, site, d, "stop")
        harness.wait_until(lambda: len(mon.typing(d)) >= 4, timeout=5, message="WS typing on Redis")
        assert sorted((p["who"], p["state"]) for p in mon.typing(d)) == \
            [("manager", "start"), ("manager", "stop"), ("user", "start"), ("user", "stop")]
        # The dialog check is SQL's on this path too: closed, the socket's typing is refused.
        r = farm.apis[0].op(farm.token).post(f"/api/dialogs/{d}/close")
        assert r.status_code == 200, r.text
        site[0].send_json({"type": "typing_start"})
        site[0].wait(lambda c: any(e.get("type") == "error" for e in c.events), message="error frame")
        err = [e for e in site[0].events if e.get("type") == "error"]
        assert err == [{"type": "error", "error": {"code": "conflict", "message": "the dialog is closed"},
                        "request": "typing_start"}]
        assert len(mon.typing(d)) == 4
    finally:
        mon.close()
        close_all(admin, site)


def test_many_dialogs_concurrent_posts(farm):
    """Ten dialogs, subscribers alternating between the notifiers, posts from four
    threads through both web servers: every subscriber gets its channel exactly once."""
    dialogs = [farm.new_dialog(via=i % 2) for i in range(10)]
    clients = {}
    for i, (d, vt) in enumerate(dialogs):
        clients[d] = (WsClient(farm.apis[i % 2].ws_dialog_url(d, farm.token, since=0)),
                      WsClient(farm.apis[(i + 1) % 2].ws_widget_url(d, farm.assistant, vt, since=0)))
    errors = []

    def worker(k):
        try:
            for j in range(5):
                for i, (d, vt) in enumerate(dialogs):
                    if (i + k) % 4 == 0:
                        api = farm.apis[(i + j + k) % 2]
                        r = (api.visitor_post(d, vt, f"t{k} m{j}") if j % 2 == 0
                             else api.operator_post(farm.token, d, f"t{k} m{j}"))
                        if r.status_code != 201:
                            errors.append(r.text)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors[:3]
        for d, _ in dialogs:
            rows = farm.stored(d)
            expect_exactly([clients[d][0]], [s for s, _ in rows])
            expect_exactly([clients[d][1]], [s for s, who in rows if who != "user"])
    finally:
        for a, b in clients.values():
            a.close()
            b.close()


def test_ai_typing_goes_through_redis(farm):
    harness.wait_until(lambda: both_up(farm), timeout=10, message="notifiers subscribed to Redis")
    d, vt = farm.new_dialog(takeover=False)
    mon = RedisMonitor(farm.redis.port)
    site = [WsClient(api.ws_widget_url(d, farm.assistant, vt, since=0)) for api in farm.apis]
    try:
        r = farm.apis[1].visitor_post(d, vt, "What are your opening hours?")
        assert r.status_code == 201, r.text
        for c in site:
            c.wait(lambda c: any(m["sender"] == "ai" and "9 to 5" in m["text"] for m in c.messages())
                   and typing_counts([c], d, "ai", "stop")[0] >= 1, timeout=20, message="AI answer")
        time.sleep(0.3)
        for c in site:
            assert typing_counts([c], d, "ai", "start") == [1]
            assert typing_counts([c], d, "ai", "stop") == [1]
            kinds = [e["type"] if e["type"] != "message" else "answer"
                     for e in c.snapshot() if e["type"] != "message" or "9 to 5" in e["text"]]
            # typing_start before the answer; typing_stop after it.
            assert kinds == ["typing_start", "answer", "typing_stop"], kinds
        assert ("ai", "start") in [(p["who"], p["state"]) for p in mon.typing(d)]
    finally:
        mon.close()
        close_all(site)


def test_notifier_killed_clients_resume_on_the_other(farm):
    d, vt = farm.new_dialog()
    a = WsClient(farm.apis[0].ws_dialog_url(d, farm.token, since=0))   # on notifier 0
    b = WsClient(farm.apis[1].ws_dialog_url(d, farm.token, since=0))   # on notifier 1
    w = WsClient(farm.apis[0].ws_widget_url(d, farm.assistant, vt, since=0))
    moved = []
    try:
        post_mixed(farm, d, vt, 6, "before")
        rows = farm.stored(d)
        expect_exactly([a, b], [s for s, _ in rows])
        expect_exactly([w], [s for s, who in rows if who != "user"])

        farm.notifiers[0].kill()  # SIGKILL: no goodbye
        a.wait(lambda c: c.closed, timeout=10, message="stream end after the notifier died")
        w.wait(lambda c: c.closed, timeout=10, message="stream end after the notifier died")
        post_mixed(farm, d, vt, 6, "during")  # both web servers still take writes

        # The clients come back through the other web server, with their cursor.
        a2 = WsClient(farm.apis[1].ws_dialog_url(d, farm.token, since=a.seqs()[-1]))
        w2 = WsClient(farm.apis[1].ws_widget_url(d, farm.assistant, vt, since=w.seqs()[-1]))
        moved += [a2, w2]
        post_mixed(farm, d, vt, 6, "after")
        rows = farm.stored(d)
        all_seqs = [s for s, _ in rows]
        site_seqs = [s for s, who in rows if who != "user"]
        expect_exactly([b], all_seqs)
        a2.wait(lambda c: c.seqs() and c.seqs()[-1] == all_seqs[-1], message="resumed operator")
        w2.wait(lambda c: c.seqs() and c.seqs()[-1] == site_seqs[-1], message="resumed widget")
        time.sleep(0.3)
        assert a.seqs() + a2.seqs() == all_seqs
        assert w.seqs() + w2.seqs() == site_seqs
        # Typing reaches the moved widget once.
        r = farm.apis[1].op(farm.token).post(f"/api/dialogs/{d}/typing", json={"state": "start"})
        assert r.status_code == 204
        w2.wait(lambda c: typing_counts([c], d, "manager", "start")[0] >= 1, message="typing")
        time.sleep(0.3)
        assert typing_counts([w2], d, "manager", "start") == [1]
    finally:
        close_all([a, b, w], moved)
        farm.restart_notifier(0)


def test_redis_killed_and_restarted(farm):
    harness.wait_until(lambda: both_up(farm), timeout=10, message="notifiers subscribed to Redis")
    d, vt = farm.new_dialog()
    admin, site = subscribe_everywhere(farm, d, vt)
    try:
        post_mixed(farm, d, vt, 4, "redis up")
        farm.redis.kill()  # SIGKILL
        farm.redis.wait(5)
        harness.wait_until(lambda: all(health(n.port)["redis"] == "down" for n in farm.notifiers),
                           timeout=10, message="/health redis down")
        post_mixed(farm, d, vt, 8, "redis down")
        rows = farm.stored(d)
        expect_exactly(admin, [s for s, _ in rows])
        expect_exactly(site, [s for s, who in rows if who != "user"])
        # Typing without Redis: through PostgreSQL, still exactly once.
        for api in farm.apis:
            r = api.op(farm.token).post(f"/api/dialogs/{d}/typing", json={"state": "start"})
            assert r.status_code == 204, r.text
        for c in site:
            c.wait(lambda c: typing_counts([c], d, "manager", "start")[0] >= 2, message="typing via pg")
        time.sleep(0.3)
        assert typing_counts(site, d, "manager", "start") == [2, 2]

        farm.redis.start()  # same port
        harness.wait_until(lambda: both_up(farm), timeout=15, message="notifiers resubscribed")
        mon = RedisMonitor(farm.redis.port)
        stops = []
        try:
            # The workers' links come back within their retry spacing (until then typing
            # goes through PostgreSQL): type until one event is seen on Redis.
            def typed_through_redis():
                r = farm.apis[len(stops) % 2].op(farm.token).post(f"/api/dialogs/{d}/typing",
                                                                   json={"state": "stop"})
                assert r.status_code == 204, r.text
                stops.append(1)
                time.sleep(0.1)
                return mon.typing(d)
            harness.wait_until(typed_through_redis, timeout=10, message="typing through Redis again")
        finally:
            mon.close()
        # Every stop, whichever way it went, reached every widget exactly once.
        for c in site:
            c.wait(lambda c: typing_counts([c], d, "manager", "stop")[0] >= len(stops),
                   message="typing stops")
        post_mixed(farm, d, vt, 4, "redis back")
        rows = farm.stored(d)
        expect_exactly(admin, [s for s, _ in rows])
        expect_exactly(site, [s for s, who in rows if who != "user"])
        assert typing_counts(site, d, "manager", "stop") == [len(stops)] * 2
        assert any("redis down: falling back to PostgreSQL" in w.log() for w in farm.webs)
    finally:
        close_all(admin, site)
        if not farm.redis.running:
            farm.redis.start()


def test_operator_presence_in_redis(farm):
    """An authenticated request on one web server marks the operator present in Redis
    (sorted set chatai:presence, expiry on Redis's clock); the widget asks the other web
    server and sees operators_online; a logout removes the operator at once."""
    harness.wait_until(lambda: both_up(farm), timeout=10, message="notifiers subscribed to Redis")
    oid = harness.make_operator(farm.pg, "present@scale.example", "present-password-1", "Pia")
    token = farm.apis[0].login("present@scale.example", "present-password-1")
    r = farm.apis[0].op(token).get("/api/me")
    assert r.status_code == 200, r.text
    score = farm.redis.cmd("ZSCORE", "chatai:presence", oid)
    assert score is not None
    now = int(farm.redis.cmd("TIME")[0])
    assert now < float(score) <= now + 120
    r = farm.apis[1].s.get(f"/api/widget/assistants/{farm.assistant}")
    assert r.status_code == 200 and r.json()["operators_online"] is True, r.text
    assert farm.apis[0].op(token).post("/api/auth/logout").status_code == 204
    assert farm.redis.cmd("ZSCORE", "chatai:presence", oid) is None


def test_redis_frozen_requests_stay_fast(farm):
    """A frozen Redis (SIGSTOP: connections accepted, nothing answered) must not hold
    requests: each pays at most the 200 ms timeout once in a while, typing and messages
    flow through PostgreSQL meanwhile."""
    harness.wait_until(lambda: both_up(farm), timeout=10, message="notifiers subscribed to Redis")
    d, vt = farm.new_dialog()
    admin, site = subscribe_everywhere(farm, d, vt)
    farm.redis.kill(signal.SIGSTOP)
    try:
        times = []
        for i in range(12):
            t = time.monotonic()
            r = farm.apis[i % 2].op(farm.token).post(f"/api/dialogs/{d}/typing", json={"state": "start"})
            times.append(time.monotonic() - t)
            assert r.status_code == 204, r.text
        post_mixed(farm, d, vt, 6, "frozen")
        assert max(times) < 1.0, times
        assert sum(times) < 4.0, times
        # Delivered by NOTIFY. (A PUBLISH that timed out may still run when Redis thaws,
        # so an indicator can come twice: typing events are idempotent, messages never
        # travel this way.)
        for c in site:
            c.wait(lambda c: typing_counts([c], d, "manager", "start")[0] >= 12, message="typing via pg")
        rows = farm.stored(d)
        expect_exactly(admin, [s for s, _ in rows])
        expect_exactly(site, [s for s, who in rows if who != "user"])
    finally:
        farm.redis.kill(signal.SIGCONT)
        close_all(admin, site)


def test_rate_limit_shared_by_both_web_servers(farm, tmp_path):
    """Limit 4 dialog creations per minute per address, two web servers, one Redis:
    4 allowed in total. Redis down: the host's shared-memory limiter takes over (429s, never 503)."""
    redis = RedisServer(tmp_path).start()
    env = {**HIGH_LIMITS, "CHATAI_REDIS_URL": redis.url(3), "CHATAI_RATE_LIMIT_DIALOGS": 4}
    webs = []
    try:
        webs = [harness.WebServer("lighttpd", farm.pg, n.port, env=env).start() for n in farm.notifiers]
        apis = [harness.Api(w.url) for w in webs]
        for api in apis:
            api.s.headers["Connection"] = "close"
        key = "chatai:rl:dialogs:127.0.0.1"
        pg_rows_before = farm.pg.sql("SELECT count(*) FROM rate_limits WHERE key = 'dialogs:127.0.0.1'")[0][0]
        codes = []
        for i in range(10):
            r = apis[i % 2].s.post("/api/widget/dialogs", json={"assistant_id": farm.assistant})
            codes.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "rate_limited"
                assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert codes == [201] * 4 + [429] * 6, codes
        assert int(redis.cmd("GET", key, db=3)) == 10
        assert 0 < int(redis.cmd("PTTL", key, db=3)) <= 60000
        assert farm.pg.sql("SELECT count(*) FROM rate_limits WHERE key = 'dialogs:127.0.0.1'")[0][0] \
            == pg_rows_before

        # Redis down: this host's shared-memory counters answer (both web servers run
        # here, so they share them); no database write per hit.
        redis.kill()
        redis.wait(5)
        codes = []
        for i in range(10):
            r = apis[i % 2].s.post("/api/widget/dialogs", json={"assistant_id": farm.assistant})
            codes.append(r.status_code)
        assert set(codes) <= {201, 429}, codes
        assert 4 <= codes.count(201) <= 8, codes  # 8 only if a minute boundary passed
        assert codes[-1] == 429, codes
        assert farm.pg.sql("SELECT count(*) FROM rate_limits WHERE key = 'dialogs:127.0.0.1'")[0][0] \
            == pg_rows_before

        # Redis back: counted there again.
        redis.start()

        def counted_in_redis():
            apis[0].s.post("/api/widget/dialogs", json={"assistant_id": farm.assistant})
            v = redis.cmd("GET", key, db=3)
            return v is not None and int(v) >= 1
        harness.wait_until(counted_in_redis, timeout=10, interval=0.3, message="counting in Redis again")
        assert any("redis back" in w.log() for w in webs)
    finally:
        for w in webs:
            w.stop()
            harness.shutil.rmtree(w.state, ignore_errors=True)
        redis.stop()
