// Package domain is the centre of a BAUM service: an upload as one service
// sees it (its state machine and the placement tally), the metadata of a held
// file, the placement rule's bit kind, and the errors and metrics the use
// cases speak in. It imports only the public contract (package messages) and
// the bit kernels; the use cases in app/command and app/query build on it.
package domain
