// Package web holds the dashboard (the "Cortex" page): plain HTML, CSS and JavaScript, embedded
// in the binary and served by the API at / and /dashboard. No build step.
package web

import "embed"

// Files is the dashboard: index.html, app.js, style.css.
//
//go:embed index.html app.js style.css
var Files embed.FS
