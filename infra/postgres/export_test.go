package postgres

// FilesPageSQL exposes the page query to the tests, which check its plan.
var FilesPageSQL = filesPageSQL
