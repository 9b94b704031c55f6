// The client against a running platform. tests/e2e/test_typescript_client.py starts one,
// makes a tenant with a key per role and runs these with:
//   ADPILOT_TEST_BASE_URL     the gateway
//   ADPILOT_TEST_VIEWER_KEY, ADPILOT_TEST_OPERATOR_KEY, ADPILOT_TEST_ADMIN_KEY
//   ADPILOT_TEST_STRICT_URL   a gateway in front of the same services that allows few calls
// Without them (a plain `npm test`) they are skipped, saying so.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";

import {
  ApiError,
  collect,
  createClient,
  fetchAIAlerts,
  fetchAISystemStatus,
  items,
  pages,
  REPLAYED,
  type AdpilotClient,
} from "../../src/index.js";

const env = process.env;
const baseUrl = env.ADPILOT_TEST_BASE_URL ?? "";
const keys = {
  viewer: env.ADPILOT_TEST_VIEWER_KEY ?? "",
  operator: env.ADPILOT_TEST_OPERATOR_KEY ?? "",
  admin: env.ADPILOT_TEST_ADMIN_KEY ?? "",
};
const skip = baseUrl && keys.admin ? false : "needs a live gateway: ADPILOT_TEST_BASE_URL and keys";

function as(role: keyof typeof keys, url: string = baseUrl): AdpilotClient {
  return createClient({ baseUrl: url, apiKey: keys[role], maxAttempts: 2 });
}

/** Runs `call`, which must fail, and returns its ApiError. */
async function refused(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

describe("against a live gateway", { skip }, () => {
  // This run's alerts, told apart from anything else in the tenant by their entity id.
  const entity = randomUUID();

  it("creates, reads, lists and pages", async () => {
    const operator = as("operator");
    const created = [];
    for (const n of [1, 2, 3]) {
      created.push(
        await operator.createAlert({
          alert_type: "risk",
          severity: "low",
          title: `probe ${n}`,
          affected_entity_type: "campaign",
          affected_entity_id: entity,
        }),
      );
    }
    const viewer = as("viewer");
    const one = await viewer.getAlert(created[0]!.id);
    assert.equal(one.title, "probe 1");
    assert.equal(one.status, "active");

    const query = { affected_entity_id: entity, limit: 2 };
    const first = await viewer.listAlerts(query);
    assert.equal(first.items.length, 2);
    assert.ok(first.next_cursor, "a second page");

    const seen = [];
    for await (const page of pages(viewer.listAlerts, query)) {
      seen.push(page.items.map((a) => a.id));
    }
    assert.equal(seen.length, 2);
    // Newest first, every alert once.
    assert.deepEqual(seen.flat(), created.map((a) => a.id).reverse());

    const titles = [];
    for await (const alert of items(viewer.listAlerts, query)) titles.push(alert.title);
    assert.deepEqual(titles, ["probe 3", "probe 2", "probe 1"]);
    assert.equal((await collect(viewer.listAlerts, query, { max: 1 })).length, 1);
    assert.equal((await fetchAIAlerts(viewer, { affected_entity_id: entity })).length, 3);
  });

  it("acts on an item, and answers 409 to an action its state does not allow", async () => {
    const operator = as("operator");
    const alert = await operator.createAlert({ alert_type: "risk", title: "to acknowledge" });
    const acknowledged = await operator.acknowledgeAlert(alert.id);
    assert.equal(acknowledged.status, "acknowledged");
    const conflict = await refused(operator.acknowledgeAlert(alert.id));
    assert.equal(conflict.status, 409);
    assert.equal(conflict.code, "invalid_transition");
  });

  it("updates and deletes", async () => {
    const admin = as("admin");
    const rule = await admin.createAutomationRule({
      rule_name: `ts client ${entity}`,
      rule_type: "budget_management",
      trigger_conditions: {
        any: [
          {
            left: { metric: "cpa", timeframe: { last_hours: 6 } },
            op: ">",
            right: { value: 100 },
          },
        ],
      },
      action_parameters: [{ type: "notify", severity: "low", message: "cpa over 100" }],
    });
    assert.equal(rule.is_active, true);
    const updated = await admin.updateAutomationRule(rule.id, { is_active: false });
    assert.equal(updated.is_active, false);
    await admin.deleteAutomationRule(rule.id);
    assert.equal((await refused(admin.getAutomationRule(rule.id))).status, 404);
  });

  it("answers a repeated change from the gateway's store", async () => {
    const operator = as("operator");
    const key = `ts-${randomUUID()}`;
    const body = { decision_type: "keyword_bid", decision_rationale: "CPC rose 40%" } as const;
    const first = await operator.createDecision(body, { idempotencyKey: key });
    const again = await operator.raw.POST("/api/ai/decisions", {
      body,
      params: { header: { "Idempotency-Key": key } },
    });
    assert.equal(again.data?.id, first.id);
    assert.equal(again.response.headers.get(REPLAYED), "true");
  });

  it("reads the system's status", async () => {
    const status = await fetchAISystemStatus(as("viewer"));
    assert.equal(status.status, "operational", JSON.stringify(status));
    for (const service of ["decision", "alerts", "optimizer"]) {
      assert.ok(service in status.services, `${service} in ${Object.keys(status.services)}`);
    }
  });

  it("throws 401 for a wrong key and for none", async () => {
    const wrong = await refused(
      createClient({ baseUrl, apiKey: "adp_not_a_key_at_all_0000000000000000" }).listAlerts(),
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.code, "unauthorized");
    const none = await refused(createClient({ baseUrl, getApiKey: () => null }).listDecisions());
    assert.equal(none.status, 401);
  });

  it("throws 403 for a role that may not", async () => {
    const error = await refused(as("viewer").createAlert({ alert_type: "risk", title: "no" }));
    assert.equal(error.status, 403);
    assert.equal(error.code, "forbidden");
    assert.deepEqual(error.details, { required_role: "operator" });
  });

  it("throws 404 for what is not there", async () => {
    const error = await refused(as("viewer").getDecision(randomUUID()));
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");
    assert.ok(error.requestId, "the answer's X-Request-Id");
  });

  it("throws 422 naming each bad field", async () => {
    const body = await refused(
      as("operator").createDecision({ decision_type: "keyword_bid", confidence_score: 250 }),
    );
    assert.equal(body.status, 422);
    assert.equal(body.code, "validation_error");
    const fields = (body.details.fields as { field: string }[]).map((f) => f.field);
    assert.deepEqual(fields, ["confidence_score"]);

    const query = await refused(as("viewer").listAlerts({ limit: 0 }));
    assert.equal(query.status, 422);
    assert.ok(
      (query.details.fields as { field: string }[]).some((f) => f.field === "limit"),
      JSON.stringify(query.details),
    );
  });

  it("throws 429 with Retry-After in seconds", { skip: !env.ADPILOT_TEST_STRICT_URL }, async () => {
    const strict = as("viewer", env.ADPILOT_TEST_STRICT_URL);
    for (let n = 0; n < 50; n++) {
      try {
        await strict.getSystemStatus();
      } catch (error) {
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, 429);
        assert.equal(error.code, "too_many_requests");
        assert.ok(error.retryAfter !== null && error.retryAfter >= 1, String(error.retryAfter));
        return;
      }
    }
    assert.fail("never limited");
  });
});
