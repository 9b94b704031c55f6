// The client's retries and idempotency keys, against a stand-in gateway that answers from a
// script: cut connections and 503s cannot be asked of the real one on demand.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";

import {
  ApiError,
  collect,
  createClient,
  fetchAIAlerts,
  items,
  REPLAYED,
  retryAfterSeconds,
  type ClientOptions,
} from "../../src/index.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TOKEN = "adp_test_token";
const ID = "6f1c1a52-8d59-4c1c-9b8e-1b1f1b1f1b1f";

const seen: Seen[] = [];
const script: Answer[] = [];
let baseUrl = "";
let pauses: number[] = [];

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  seen.push({
    method: req.method ?? "",
    url: req.url ?? "",
    headers: req.headers,
    body: Buffer.concat(chunks).toString(),
  });
  const answer = script.shift() ?? json(200, { ok: true });
  answer(req, res);
});

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return (_req, res) => {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
}

function error(status: number, code: string, headers: Record<string, string> = {}): Answer {
  const body = { error: { code, message: `said ${code}`, details: { why: code } } };
  return json(status, body, headers);
}

/** The request arrived; the answer never does. */
const cutConnection: Answer = (req) => {
  req.socket.destroy();
};

function client(options: Partial<ClientOptions> = {}) {
  return createClient({
    baseUrl,
    apiKey: TOKEN,
    sleep: async (ms) => {
      pauses.push(ms);
    },
    ...options,
  });
}

const decision = { decision_type: "keyword_bid", decision_rationale: "CPC rose 40%" } as const;

before(async () => {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  seen.length = 0;
  script.length = 0;
  pauses = [];
});

describe("idempotency keys", () => {
  it("sends a key with a change and keeps it across retries", async () => {
    const created = { id: "d1", ...decision };
    script.push(cutConnection, error(503, "service_unavailable", { "Retry-After": "2" }));
    script.push(json(201, created));

    const result = await client().createDecision(decision);

    assert.deepEqual(result, created);
    assert.equal(seen.length, 3);
    const keys = seen.map((r) => r.headers["idempotency-key"]);
    assert.match(String(keys[0]), UUID);
    assert.equal(new Set(keys).size, 1);
    assert.ok(seen.every((r) => r.body === JSON.stringify(decision)));
    assert.ok(seen.every((r) => r.method === "POST" && r.url === "/api/ai/decisions"));
    assert.equal(pauses[1], 2000, "the 503's Retry-After is honoured");
  });

  it("gives each call a key of its own", async () => {
    const api = client();
    await api.approveRecommendation(ID);
    await api.approveRecommendation(ID);
    await api.setPreferences({ autonomy: "recommend" });
    await api.updateAutomationRule(ID, { is_active: false });
    const keys = seen.map((r) => r.headers["idempotency-key"]);
    assert.deepEqual(
      seen.map((r) => r.method),
      ["POST", "POST", "PUT", "PATCH"],
    );
    assert.ok(keys.every((k) => UUID.test(String(k))));
    assert.equal(new Set(keys).size, 4);
  });

  it("uses the caller's key when given one", async () => {
    await client().rollbackOptimization(ID, { force: true }, { idempotencyKey: "rb-o1" });
    assert.equal(seen[0]?.headers["idempotency-key"], "rb-o1");
    assert.equal(seen[0]?.url, `/api/ai/optimizations/${ID}/rollback`);
    assert.equal(seen[0]?.body, JSON.stringify({ force: true }));
  });

  it("sends no key with a read, and the credentials with every call", async () => {
    script.push(json(200, { items: [], next_cursor: null }));
    const page = await client().listAlerts({ limit: 5, status: "active" });
    assert.deepEqual(page, { items: [], next_cursor: null });
    assert.equal(seen[0]?.headers["idempotency-key"], undefined);
    assert.equal(seen[0]?.url, "/api/ai/alerts?limit=5&status=active");
    assert.equal(seen[0]?.headers.authorization, `Bearer ${TOKEN}`);
  });

  it("waits while the first attempt is still being answered, then reads the replay", async () => {
    const stored = { accepted: 24, campaign_hours: 24 };
    script.push(error(409, "idempotency_in_progress", { "Retry-After": "1" }));
    script.push(json(202, stored, { [REPLAYED]: "true" }));
    const { data, response } = await client().raw.POST("/api/ai/metrics", {
      body: { metrics: [] },
    });
    assert.deepEqual(data, stored);
    assert.equal(response.headers.get(REPLAYED), "true");
    assert.deepEqual(pauses, [1000]);
    assert.equal(seen[0]?.headers["idempotency-key"], seen[1]?.headers["idempotency-key"]);
  });
});

describe("credentials", () => {
  it("asks getApiKey before every call and sends none when there is none", async () => {
    let key: string | null = null;
    const api = client({ apiKey: undefined, getApiKey: async () => key });
    await api.getSystemStatus();
    key = "adp_later";
    await api.getSystemStatus();
    assert.equal(seen[0]?.headers.authorization, undefined);
    assert.equal(seen[1]?.headers.authorization, "Bearer adp_later");
  });
});

describe("errors", () => {
  it("throws what the server refused as an ApiError, without retrying it", async () => {
    script.push(error(422, "idempotency_key_reused", { "X-Request-Id": "req-1" }));
    await assert.rejects(client().createAlert({ alert_type: "risk", title: "t" }), (e) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 422);
      assert.equal(e.code, "idempotency_key_reused");
      assert.equal(e.message, "said idempotency_key_reused");
      assert.deepEqual(e.details, { why: "idempotency_key_reused" });
      assert.equal(e.requestId, "req-1");
      assert.equal(e.retryAfter, null);
      return true;
    });
    assert.equal(seen.length, 1);
  });

  it("carries Retry-After in seconds", async () => {
    script.push(error(429, "too_many_requests", { "Retry-After": "7" }));
    await assert.rejects(client().listDecisions(), (e) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 429);
      assert.equal(e.retryAfter, 7);
      return true;
    });
    assert.equal(seen.length, 1, "a 429 is the caller's to wait out");
  });

  it("gives up after its attempts", async () => {
    script.push(...Array.from({ length: 5 }, () => error(503, "service_unavailable")));
    await assert.rejects(client({ maxAttempts: 3 }).createDecision(decision), (e) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 503);
      return true;
    });
    assert.equal(seen.length, 3);
    assert.equal(new Set(seen.map((r) => r.headers["idempotency-key"])).size, 1);
  });

  it("says network_error when no attempt got an answer", async () => {
    script.push(cutConnection, cutConnection);
    await assert.rejects(client({ maxAttempts: 2 }).getSystemStatus(), (e) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 0);
      assert.equal(e.code, "network_error");
      return true;
    });
    assert.equal(seen.length, 2);
  });

  it("keeps an answer that is not the API's own", async () => {
    script.push((_req, res) => {
      res.writeHead(502, { "Content-Type": "text/plain" });
      res.end("bad gateway");
    });
    await assert.rejects(client().getSystemStatus(), (e) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 502);
      assert.equal(e.code, "http_error");
      assert.equal(e.message, "bad gateway");
      return true;
    });
  });

  it("reads Retry-After as seconds or a date", () => {
    assert.equal(retryAfterSeconds("3"), 3);
    assert.equal(retryAfterSeconds(null), null);
    assert.equal(
      retryAfterSeconds("Wed, 21 Oct 2015 07:28:10 GMT", Date.UTC(2015, 9, 21, 7, 28)),
      10,
    );
  });
});

describe("paging", () => {
  it("follows next_cursor, keeping the filters", async () => {
    script.push(json(200, { items: [{ id: "a" }, { id: "b" }], next_cursor: "c1" }));
    script.push(json(200, { items: [{ id: "c" }], next_cursor: null }));
    const api = client();
    const ids: string[] = [];
    for await (const alert of items(api.listAlerts, { status: "active", limit: 2 })) {
      ids.push(alert.id);
    }
    assert.deepEqual(ids, ["a", "b", "c"]);
    assert.deepEqual(
      seen.map((r) => r.url),
      ["/api/ai/alerts?status=active&limit=2", "/api/ai/alerts?status=active&limit=2&cursor=c1"],
    );
  });

  it("stops at max", async () => {
    script.push(json(200, { items: [{ id: "a" }, { id: "b" }], next_cursor: "c1" }));
    const found = await collect(client().listDecisions, {}, { max: 1 });
    assert.deepEqual(found, [{ id: "a" }]);
    assert.equal(seen.length, 1);
  });

  it("answers the items of one page for the dashboard's calls", async () => {
    script.push(json(200, { items: [{ id: "a" }], next_cursor: "c1" }));
    assert.deepEqual(await fetchAIAlerts(client(), { severity: "high" }), [{ id: "a" }]);
    assert.equal(seen[0]?.url, "/api/ai/alerts?severity=high");
  });
});
