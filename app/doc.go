// Package app is the heart of a BAUM service: the domain (uploads, files, the
// placement rule) and, in its sub-packages, the use cases that change it
// (command) and read it (query). It knows nothing of HTTP, Kafka or PostgreSQL:
// those reach it through the small interfaces its use cases declare.
package app
