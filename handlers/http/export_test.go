package http

// ContentDisposition exposes contentDisposition to the tests.
var ContentDisposition = contentDisposition
