package service

import (
	"log/slog"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/messages"
)

// Adapters are what a service's use cases work with: the implementations of
// the ports app/command and app/query declare. NewService makes them from
// the configuration (PostgreSQL, the disk, Kafka); a test may bring fakes.
type Adapters struct {
	// Uploads is what the commands change; Read is what the queries read
	// (the same store, unless a test put faults between).
	Uploads command.Uploads
	Read    query.ReadModel
	// Disk keeps the staged and the stored files.
	Disk interface {
		command.Disk
		query.StoredFiles
	}
	// Events publishes the contract's events; Commands sends its commands;
	// Sender streams uploads as chunk commands.
	Events   command.EventPublisher
	Commands messages.CommandSender
	Sender   command.UploadSender
	// Metrics hears what the use cases do.
	Metrics domain.Metrics
	// Chunks reads chunk commands back from the log, and Locate tells where
	// the one being handled is: with both, files of one chunk are staged in
	// memory (see app/command's memory). nil: every file is staged on disk.
	Chunks command.ChunkLog
	Locate command.LocateChunk
	// Journal records the uploads this process is sending, so that the
	// next start aborts those it dies in the middle of (nil: none).
	Journal command.SendJournal
	// Notifier wakes the waits of this process (an upload's HTTP request)
	// when an upload changes; the store hands it every committed record.
	// Default: a notifier of its own, which only the handlers wake.
	Notifier *domain.Notifier
}

// NewApplication builds every use case of service self once, on its
// adapters. Waiters in this process (an upload's HTTP request) hear of
// changes through one notifier shared by the store, the commands and the
// queries.
func NewApplication(config Config, a Adapters, log *slog.Logger) (app.Application, error) {
	self := config.Role
	notifier := a.Notifier
	if notifier == nil {
		notifier = domain.NewNotifier()
	}
	staging := command.NewStaging(a.Disk, domain.BitKind(self))
	stage, err := command.NewStageChunkHandler(command.StageChunkConfig{Self: self, Uploads: a.Uploads, Staging: staging,
		Events: a.Events, SyncStaged: config.SyncStaged, Locate: a.Locate, Chunks: a.Chunks, Metrics: a.Metrics, Log: log})
	if err != nil {
		return app.Application{}, err
	}
	place, err := command.NewPlaceFileHandler(command.PlaceFileConfig{Self: self, Uploads: a.Uploads, Disk: a.Disk,
		Staging: staging, Chunks: a.Chunks, Events: a.Events, Metrics: a.Metrics, Log: log})
	if err != nil {
		return app.Application{}, err
	}
	del, err := command.NewDeleteFileHandler(command.DeleteFileConfig{Self: self, Uploads: a.Uploads, Disk: a.Disk,
		Events: a.Events, Notifier: notifier, Metrics: a.Metrics, Log: log})
	if err != nil {
		return app.Application{}, err
	}
	return app.Application{
		Commands: app.Commands{
			SendUpload:    command.NewSendUploadHandler(a.Sender, 0, log, command.WithJournal(a.Journal)),
			RequestDelete: command.NewRequestDeleteHandler(self, a.Commands),
			StageChunk:    stage,
			AbortUpload:   command.NewAbortUploadHandler(self, a.Uploads, a.Events),
			DeleteFile:    del,
			PlaceFile:     place,
			RecordStored:  command.NewRecordStoredHandler(self, a.Uploads),
			RecordFailure: command.NewRecordFailureHandler(a.Uploads, staging, a.Metrics, log),
			RecordDeleted: command.NewRecordDeletedHandler(a.Uploads),
			Reconcile:     command.NewReconcileHandler(self, a.Uploads, a.Disk, command.DefaultOrphanGrace, log),
			FailStalled:   command.NewFailStalledHandler(self, a.Uploads, a.Events),
			SweepStaged:   command.NewSweepStagedHandler(self, a.Uploads, a.Disk),
		},
		Queries: app.Queries{
			ListFiles:   query.NewListFilesHandler(a.Read),
			File:        query.NewFileHandler(a.Read, notifier),
			FileContent: query.NewFileContentHandler(a.Read, a.Disk),
			Upload:      query.NewUploadHandler(a.Read, notifier),
		},
	}, nil
}
