// Starts Swagger UI on the desk's own OpenAPI document (central/pages/api_docs.py).
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
});
