import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";

import { AdpilotClient, ApiError, retryAfterMs } from "../src/index.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TOKEN = "adp_test_token";

/** A stand-in gateway: records each request and answers it from a script. */
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
  return json(status, { error: { code, message: code, details: {} } }, headers);
}

/** The request arrived; the answer never does. */
const cutConnection: Answer = (req) => {
  req.socket.destroy();
};

function client(options: Partial<ConstructorParameters<typeof AdpilotClient>[0]> = {}) {
  return new AdpilotClient({
    baseUrl,
    token: TOKEN,
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

    const result = await client().decisions.create(decision);

    assert.deepEqual(result, created);
    assert.equal(seen.length, 3);
    const keys = seen.map((r) => r.headers["idempotency-key"]);
    assert.match(String(keys[0]), UUID);
    assert.deepEqual(new Set(keys).size, 1);
    assert.ok(seen.every((r) => r.body === JSON.stringify(decision)));
    assert.ok(seen.every((r) => r.method === "POST" && r.url === "/api/ai/decisions"));
    assert.equal(pauses[1], 2000, "the 503's Retry-After is honoured");
  });

  it("gives each call a key of its own", async () => {
    const api = client();
    await api.recommendations.approve("r1");
    await api.recommendations.approve("r1");
    await api.preferences.set({ autonomy: "recommend" });
    await api.automationRules.update("rule1", { is_active: false });
    const keys = seen.map((r) => r.headers["idempotency-key"]);
    assert.deepEqual(
      seen.map((r) => r.method),
      ["POST", "POST", "PUT", "PATCH"],
    );
    assert.ok(keys.every((k) => UUID.test(String(k))));
    assert.equal(new Set(keys).size, 4);
  });

  it("uses the caller's key when given one", async () => {
    await client().optimizations.rollback("o1", { force: true }, { idempotencyKey: "rb-o1" });
    assert.equal(seen[0]?.headers["idempotency-key"], "rb-o1");
    assert.equal(seen[0]?.url, "/api/ai/optimizations/o1/rollback");
  });

  it("sends no key with a read", async () => {
    script.push(json(200, { items: [], next_cursor: null }));
    const page = await client().alerts.list({ limit: 5, status: "active" });
    assert.deepEqual(page, { items: [], next_cursor: null });
    assert.equal(seen[0]?.headers["idempotency-key"], undefined);
    assert.equal(seen[0]?.url, "/api/ai/alerts?limit=5&status=active");
    assert.equal(seen[0]?.headers.authorization, `Bearer ${TOKEN}`);
  });

  it("waits while the first attempt is still being answered, then reads the replay", async () => {
    const stored = { accepted: 24, campaign_hours: 24 };
    script.push(error(409, "idempotency_in_progress", { "Retry-After": "1" }));
    script.push(json(202, stored, { "Idempotent-Replayed": "true" }));
    const response = await client().send("POST", "/metrics", { body: { metrics: [] } });
    assert.deepEqual(response.data, stored);
    assert.equal(response.replayed, true);
    assert.deepEqual(pauses, [1000]);
    assert.equal(seen[0]?.headers["idempotency-key"], seen[1]?.headers["idempotency-key"]);
  });
});

describe("errors", () => {
  it("does not retry what the server refused", async () => {
    script.push(error(422, "idempotency_key_reused"));
    await assert.rejects(client().alerts.create({ alert_type: "risk", title: "t" }), (e) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 422);
      assert.equal(e.code, "idempotency_key_reused");
      return true;
    });
    assert.equal(seen.length, 1);
  });

  it("gives up after its attempts", async () => {
    script.push(...Array.from({ length: 5 }, () => error(503, "service_unavailable")));
    await assert.rejects(client({ maxAttempts: 3 }).decisions.create(decision), ApiError);
    assert.equal(seen.length, 3);
    assert.equal(new Set(seen.map((r) => r.headers["idempotency-key"])).size, 1);
  });

  it("reads Retry-After as seconds or a date", () => {
    assert.equal(retryAfterMs("3"), 3000);
    assert.equal(retryAfterMs(null), null);
    assert.equal(retryAfterMs("Wed, 21 Oct 2015 07:28:10 GMT", Date.UTC(2015, 9, 21, 7, 28)), 10_000);
  });
});
