// The API reference: Swagger UI over the gateway's own OpenAPI document. Everything it loads
// comes from this server (the page's Content-Security-Policy holds it to that).
window.ui = SwaggerUIBundle({
  url: "/api/ai/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
  // The validator badge would send the document to validator.swagger.io.
  validatorUrl: null,
  // "Authorize" takes an API key (`adp_...`) or a JWT; keep it across reloads of this page.
  persistAuthorization: true,
  displayRequestDuration: true,
  filter: true,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
});
