// Drives the real auth0 npm package (ManagementClient), unchanged but for its domain
// and token, against the plugin's Management API. e2e/admin_auth0_test.go runs it
// with AUTH0_DOMAIN, AUTH0_TOKEN and NODE_EXTRA_CA_CERTS (Caddy's internal CA) and
// checks what it prints: one JSON object with each call's result or error.
"use strict";
const { ManagementClient } = require("auth0");

const connection = "Username-Password-Authentication";

async function attempt(fn) {
  try {
    return { ok: true, data: await fn() };
  } catch (e) {
    return { ok: false, status: e.statusCode, body: e.body, message: String(e.message || e) };
  }
}

async function main() {
  const client = new ManagementClient({
    domain: process.env.AUTH0_DOMAIN,
    token: process.env.AUTH0_TOKEN,
    maxRetries: 0,
  });
  const out = {};
  out.ticketByEmail = await attempt(() =>
    client.tickets.changePassword({
      email: "alice@example.com",
      connection_id: connection,
      client_id: "demo-app",
      ttl_sec: 3600,
      mark_email_as_verified: true,
      includeEmailInRedirect: false,
    }));
  out.ticketByID = await attempt(() => client.tickets.changePassword({ user_id: "user-bob", result_url: process.env.RESULT_URL }));
  out.ticketUnknownUser = await attempt(() => client.tickets.changePassword({ user_id: "user-nobody" }));
  out.ticketBadResultURL = await attempt(() =>
    client.tickets.changePassword({ user_id: "user-bob", result_url: "https://evil.example/steal" }));
  out.setPassword = await attempt(() =>
    client.users.update("user-bob", { password: process.env.NEW_PASSWORD, connection }));
  out.weakPassword = await attempt(() => client.users.update("user-bob", { password: "weak", connection }));
  out.templateGet = await attempt(() => client.emailTemplates.get("reset_email"));
  out.templateUpdate = await attempt(() =>
    client.emailTemplates.update("reset_email", { subject: "Reset your {{ application.name }} password (node)" }));
  out.templateLegacyGet = await attempt(() => client.emailTemplates.get("change_password"));
  out.templateSet = await attempt(() =>
    client.emailTemplates.set("reset_email", {
      template: "reset_email",
      body: "<p>Hi {{ user.name }}, <a href=\"{{ url }}\">reset</a> within {{ url_lifetime }}.</p>",
      from: "Ops <ops@example.com>",
      subject: "Set by node",
      syntax: "liquid",
      urlLifetimeInSeconds: 7200,
      enabled: true,
    }));
  out.templateBad = await attempt(() =>
    client.emailTemplates.update("reset_email", { body: "<p>{{ user.nmae }}</p>" }));

  // The reads (issue 11). The list calls answer a Page: its data are the items.
  const items = async (p) => (await p).data;
  out.userGet = await attempt(() => client.users.get("user-alice"));
  out.userGetUnknown = await attempt(() => client.users.get("user-nobody"));
  out.usersSearch = await attempt(() => items(client.users.list({ q: 'email:"bob@example.com"', search_engine: "v3" })));
  out.usersSearchByID = await attempt(() => items(client.users.list({ q: "user_id:user-alice", search_engine: "v3" })));
  out.usersSearchBad = await attempt(() => items(client.users.list({ q: 'name:"Bob"', search_engine: "v3" })));
  out.usersByEmail = await attempt(() => client.users.listUsersByEmail({ email: "alice@example.com" }));
  out.usersByEmailNone = await attempt(() => client.users.listUsersByEmail({ email: "nobody@example.com" }));
  out.connections = await attempt(() => items(client.connections.list()));
  out.connectionsDB = await attempt(() => items(client.connections.list({ strategy: ["auth0"] })));
  const db = out.connectionsDB.ok ? out.connectionsDB.data.find((c) => c.name === connection) : undefined;
  const connectionID = db ? db.id : "missing";
  out.connectionGet = await attempt(() => client.connections.get(connectionID));
  out.connectionUnknown = await attempt(() => client.connections.get("con_0000000000000000"));
  out.ticketByConnectionID = await attempt(() =>
    client.tickets.changePassword({ email: "bob@example.com", connection_id: connectionID }));
  out.emailProvider = await attempt(() => client.emails.provider.get());
  const created = {
    template: "password_changed",
    body: "<p>Your password was changed, {{ user.email }}.</p>",
    subject: "Created by node",
    syntax: "liquid",
    enabled: true,
  };
  out.templateCreate = await attempt(() => client.emailTemplates.create(created));
  out.templateCreateAgain = await attempt(() => client.emailTemplates.create(created));
  out.templateCreateSet = await attempt(() =>
    client.emailTemplates.create({ template: "reset_email", body: "<a href=\"{{ url }}\">x</a>", syntax: "liquid" }));
  // The SDK's logs.list sends Auth0's older name, search; q goes as an extra
  // query parameter.
  out.logsSearch = await attempt(() => items(client.logs.list({ search: "type:scpr" })));
  out.logsQ = await attempt(() =>
    items(client.logs.list({ per_page: 10 }, { queryParams: { q: 'type:admin_ticket AND user_id:"user-bob"' } })));
  out.logsFailed = await attempt(() => items(client.logs.list({ search: "type:fcpr" })));
  out.logsBad = await attempt(() => items(client.logs.list({ search: "type:scp OR type:fcp" })));
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
