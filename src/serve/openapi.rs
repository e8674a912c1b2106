//! The hand-written OpenAPI 3 description served at `GET /openapi.json`.

use serde_json::{json, Value};

/// The OpenAPI 3.0 document of the service; lists every route of [`super::ROUTES`].
pub fn openapi() -> Value {
    let error = json!({ "$ref": "#/components/responses/Error" });
    let n = json!({
        "name": "n", "in": "query", "required": false,
        "description": "How many items (1 to the server's limit, default 10).",
        "schema": { "type": "integer", "minimum": 1, "default": 10 }
    });
    let id = |what: &str| {
        json!({
            "name": "id", "in": "path", "required": true,
            "description": format!("Original {what} id, as in the training data."),
            "schema": { "type": "string" }
        })
    };
    let ok = |schema: &str| {
        json!({
            "description": "OK",
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        })
    };
    let body = |schema: &str| {
        json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        })
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "aerec",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Recommendations from an aerec model file. Errors are JSON {\"error\": \"…\"}: \
                400 malformed input, 401 missing or wrong admin token, 403 admin routes off (no token \
                configured), 404 unknown user, item or route, 408 body not sent in time, 413 body too \
                large (refused from Content-Length before it is read), 500 failed reload (the previous \
                model keeps serving) or internal error, 501 similar items on a model without item vectors."
        },
        "paths": {
            "/health": { "get": {
                "summary": "Liveness.",
                "responses": { "200": { "description": "OK", "content": { "application/json": {
                    "schema": { "type": "object", "properties": { "status": { "type": "string" } } } } } } }
            } },
            "/openapi.json": { "get": {
                "summary": "This document.",
                "responses": { "200": { "description": "OpenAPI 3 document" } }
            } },
            "/v1/model": { "get": {
                "summary": "The model in service.",
                "responses": { "200": ok("ModelSummary") }
            } },
            "/v1/users/{id}/recommendations": { "get": {
                "summary": "Top-N items a known user has not rated.",
                "parameters": [id("user"), n.clone()],
                "responses": { "200": ok("UserRecommendations"), "400": error.clone(), "404": error.clone() }
            } },
            "/v1/recommendations": { "post": {
                "summary": "Top-N for a new user from their ratings (fold-in, no retraining).",
                "requestBody": body("NewUserRequest"),
                "responses": { "200": ok("NewUserRecommendations"), "400": error.clone(),
                    "408": error.clone(), "413": error.clone() }
            } },
            "/v1/predictions": { "post": {
                "summary": "Predicted ratings for (user, item) pairs; unseen ids use the flagged cold-start fallback.",
                "requestBody": body("PredictionsRequest"),
                "responses": { "200": ok("Predictions"), "400": error.clone(), "408": error.clone(),
                    "413": error.clone() }
            } },
            "/v1/items/{id}/similar": { "get": {
                "summary": "Nearest items by cosine of the model's item vectors.",
                "parameters": [id("item"), n],
                "responses": { "200": ok("Similar"), "400": error.clone(), "404": error.clone(),
                    "501": { "description": "The model has no item vectors (a mean or biases model): \
                        the error says so.", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Error" } } } } }
            } },
            "/v1/admin/reload": { "post": {
                "summary": "Read the model file again and swap it in; on failure the old model keeps serving.",
                "description": "Needs `Authorization: Bearer TOKEN` with the token the service was \
                    started with (AEREC_ADMIN_TOKEN or --admin-token-file).",
                "security": [ { "adminToken": [] } ],
                "responses": {
                    "200": { "description": "Reloaded: {\"reloaded\": true, \"model\": ModelSummary}" },
                    "401": error.clone(),
                    "403": error.clone(),
                    "500": { "description": "The file could not be loaded; the previous model keeps \
                        serving: {\"error\", \"reloaded\": false, \"model\": ModelSummary}",
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/Error" } } } } }
            } }
        },
        "components": {
            "securitySchemes": {
                "adminToken": { "type": "http", "scheme": "bearer",
                    "description": "The token from AEREC_ADMIN_TOKEN or --admin-token-file." }
            },
            "responses": {
                "Error": { "description": "Error", "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Error" } } } }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"],
                    "properties": { "error": { "type": "string" } } },
                "Recommendation": { "type": "object", "required": ["item", "rating", "score"], "properties": {
                    "item": { "type": "string" },
                    "rating": { "type": "number", "description": "Predicted rating clipped to the scale." },
                    "score": { "type": "number", "description": "Raw model score used for ranking." },
                    "title": { "type": "string" } } },
                "UserRecommendations": { "type": "object", "properties": {
                    "user": { "type": "string" },
                    "items": { "type": "array", "items": { "$ref": "#/components/schemas/Recommendation" } } } },
                "NewUserRequest": { "type": "object", "required": ["ratings"], "properties": {
                    "ratings": { "type": "array", "items": { "type": "object", "required": ["item", "rating"],
                        "properties": { "item": { "type": "string" }, "rating": { "type": "number" } } } },
                    "n": { "type": "integer", "minimum": 1, "default": 10 } } },
                "NewUserRecommendations": { "type": "object", "properties": {
                    "items": { "type": "array", "items": { "$ref": "#/components/schemas/Recommendation" } },
                    "unknown_items": { "type": "array", "items": { "type": "string" } },
                    "used_ratings": { "type": "integer" } } },
                "PredictionsRequest": { "type": "object", "required": ["pairs"], "properties": {
                    "pairs": { "type": "array", "items": { "type": "object", "required": ["user", "item"],
                        "properties": { "user": { "type": "string" }, "item": { "type": "string" } } } } } },
                "Predictions": { "type": "object", "properties": {
                    "predictions": { "type": "array", "items": { "type": "object", "properties": {
                        "user": { "type": "string" }, "item": { "type": "string" },
                        "rating": { "type": "number" }, "score": { "type": "number" },
                        "fallback": { "type": "string", "nullable": true,
                            "enum": ["unknown_user", "unknown_item", "unknown_user_and_item", null] } } } } } },
                "Similar": { "type": "object", "properties": {
                    "item": { "type": "string" },
                    "similar": { "type": "array", "items": { "type": "object", "properties": {
                        "item": { "type": "string" }, "similarity": { "type": "number" },
                        "title": { "type": "string" } } } } } },
                "ModelSummary": { "type": "object", "properties": {
                    "kind": { "type": "string" }, "path": { "type": "string" },
                    "users": { "type": "integer" }, "items": { "type": "integer" },
                    "ratings": { "type": "integer" }, "params": { "type": "integer" },
                    "scale_min": { "type": "number" }, "scale_max": { "type": "number" },
                    "mu": { "type": "number" }, "epochs": { "type": "integer" },
                    "train_seconds": { "type": "number" }, "similar_items": { "type": "boolean" },
                    "loaded_unix": { "type": "integer" } } }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_route_and_nothing_else() {
        let doc = openapi();
        assert_eq!(doc["openapi"], "3.0.3");
        let paths = doc["paths"].as_object().unwrap();
        let mut listed: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.clone(), p.clone()))
            })
            .collect();
        let mut routes: Vec<(String, String)> = super::super::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        listed.sort();
        routes.sort();
        assert_eq!(listed, routes);
        // Every $ref points at a defined component.
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = &piece[..piece.find('"').unwrap()];
            let (section, name) = target.split_once('/').unwrap();
            assert!(doc["components"][section][name].is_object(), "{target}");
        }
    }
}
