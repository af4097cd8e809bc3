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
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
