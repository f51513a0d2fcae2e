package api

import _ "embed"

// OpenAPI is the API's OpenAPI 3.1 document (internal/api/openapi.json, checked in); a test keeps
// it and the routes of the app in step.
//
//go:embed openapi.json
var OpenAPI []byte
