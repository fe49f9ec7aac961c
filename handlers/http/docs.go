package http

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"

	"github.com/baum-store/baum/messages"
)

// openAPIDocument describes every route of the API. It is written by hand,
// next to the handlers it describes, and kept true by tests: every route the
// router serves is in it and every path in it is served, and the answers the
// tests see match its schemas.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 document as service self serves it
// (its title names the service).
func OpenAPIDocument(self messages.Service) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, fmt.Errorf("the embedded OpenAPI document is not JSON: %w", err)
	}
	info, _ := doc["info"].(map[string]any)
	if info == nil {
		return nil, fmt.Errorf("the embedded OpenAPI document has no info")
	}
	info["title"] = fmt.Sprintf("BAUM %s", self)
	return json.MarshalIndent(doc, "", "  ")
}

// openAPI answers GET /openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(s.openAPIDoc)
}

// docsBase is where Swagger UI and its assets are served.
const docsBase = "/docs"

// newDocs returns Swagger UI for /openapi.json. Its scripts, style sheets
// and icons are embedded in the binary (github.com/swaggest/swgui/v5emb),
// so the page works without internet.
func newDocs(self messages.Service) http.Handler {
	return v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       fmt.Sprintf("BAUM %s", self),
		SwaggerJSON: "/openapi.json",
		BasePath:    docsBase,
		SettingsUI: map[string]string{
			"defaultModelsExpandDepth": "1", // show the schemas
			"displayRequestDuration":   "true",
			"persistAuthorization":     "true", // a token given to Authorize survives a reload
		},
	})
}

// docs answers GET /docs and GET /docs/{asset}, with the API's JSON errors
// (an unknown asset is a JSON 404, like any other).
func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	jw := &jsonErrors{ResponseWriter: w, r: r, describe: func(status int, text string) string {
		if status == http.StatusNotFound {
			return fmt.Sprintf("no such asset of the docs page: %s", r.URL.Path)
		}
		return text
	}}
	s.docsUI.ServeHTTP(jw, r)
	jw.finish()
}
