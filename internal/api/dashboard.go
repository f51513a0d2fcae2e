package api

import (
	"io/fs"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"

	"github.com/amoskys/amoskys/web"
)

// MountDashboard serves the Cortex dashboard at / and /dashboard/ (open: the page asks for the
// token and sends it with every API call).
func MountDashboard(r fiber.Router) {
	serve := func(name string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			b, err := fs.ReadFile(web.Files, name)
			if err != nil {
				return JSONError(c, fiber.StatusNotFound, "no file %s", name)
			}
			ct := mime.TypeByExtension(path.Ext(name))
			if ct == "" {
				ct = "application/octet-stream"
			}
			c.Set(fiber.HeaderContentType, ct)
			c.Set(fiber.HeaderCacheControl, "no-cache")
			c.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
			c.Set("X-Content-Type-Options", "nosniff")
			return c.Send(b)
		}
	}
	r.Get("/", serve("index.html"))
	r.Get("/dashboard", serve("index.html"))
	r.Get("/dashboard/", serve("index.html"))
	r.Get("/dashboard/app.js", serve("app.js"))
	r.Get("/dashboard/style.css", serve("style.css"))
}
