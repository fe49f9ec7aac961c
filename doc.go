// Package baum is the root of BAUM's module: a file store of two services,
// zeros and ones, that talk only through Kafka. It holds no code; start at
// the README. The program is cmd/baum, its wiring is in package service,
// its use cases in app, and the public contract for other programs in
// messages.
package baum
