// Package app is what a BAUM service can do: its use cases, gathered in one
// Application that service.NewApplication builds once. The ports (HTTP in
// handlers/http, Kafka in handlers/messaging) call these and nothing else;
// the use cases reach PostgreSQL, the disk and Kafka only through the small
// interfaces they declare, which the adapters in infra implement.
//
//	app/domain   the upload, the held file, the placement rule's bit kind
//	app/command  the use cases that change state, one file each
//	app/query    the use cases that read the read models
//	app/bits     the bit-counting kernels
package app

import (
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/query"
)

// Application is every use case of one service.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands change the service's state. The first two start with a client's
// request; the others with a message the router hands them, or with the
// service's own upkeep.
type Commands struct {
	// SendUpload streams a received file onto Kafka as chunk commands.
	SendUpload *command.SendUploadHandler
	// RequestDelete sends DeleteFile for this service.
	RequestDelete command.RequestDeleteHandler

	// StageChunk handles StoreChunk: stage, verify, count.
	StageChunk *command.StageChunkHandler
	// AbortUpload handles AbortUpload.
	AbortUpload command.AbortUploadHandler
	// DeleteFile handles DeleteFile.
	DeleteFile *command.DeleteFileHandler
	// PlaceFile handles BitsCounted: the count that completes both decides.
	PlaceFile *command.PlaceFileHandler
	// RecordStored, RecordFailure and RecordDeleted handle FileStored,
	// UploadFailed and FileDeleted.
	RecordStored  command.RecordStoredHandler
	RecordFailure *command.RecordFailureHandler
	RecordDeleted command.RecordDeletedHandler

	// Reconcile repairs the disk against the database at start.
	Reconcile command.ReconcileHandler
	// FailStalled fails uploads whose chunks stopped coming.
	FailStalled command.FailStalledHandler
	// SweepStaged removes this replica's staged files that no upload needs.
	SweepStaged command.SweepStagedHandler
}

// Queries read the service's read models.
type Queries struct {
	ListFiles   query.ListFilesHandler
	File        query.FileHandler
	FileContent query.FileContentHandler
	Upload      query.UploadHandler
}
