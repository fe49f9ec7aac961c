package messages

// Topic names. Commands have a topic each (a command processor subscribes one
// topic per command type); all events share TopicEvents so that one consumer
// sees an upload's events in the order they happened.
const (
	// TopicStoreChunk carries StoreChunk commands, keyed by upload id.
	TopicStoreChunk = "baum.commands.store-chunk"
	// TopicAbortUpload carries AbortUpload commands, keyed by upload id.
	TopicAbortUpload = "baum.commands.abort-upload"
	// TopicDeleteFile carries DeleteFile commands, keyed by file id.
	TopicDeleteFile = "baum.commands.delete-file"
	// TopicEvents carries every event, keyed by upload (= file) id.
	TopicEvents = "baum.events"
	// TopicPoison receives messages that could not be processed after retries.
	// They keep their payload, key and headers and gain the Header*Poisoned
	// headers (and Watermill's subscriber_poisoned).
	TopicPoison = "baum.poison"
)

// Headers a message gains on its way to TopicPoison.
const (
	HeaderReasonPoisoned   = "reason_poisoned"   // the error that made it poison
	HeaderTopicPoisoned    = "topic_poisoned"    // the topic it was consumed from
	HeaderHandlerPoisoned  = "handler_poisoned"  // the handler that gave up on it
	HeaderServicePoisoned  = "service_poisoned"  // the service that gave up on it: zeros or ones
	HeaderAttemptsPoisoned = "attempts_poisoned" // how often it was handled: 1 + retries
)

// Topics lists every topic the services consume, for tools that create topics
// up front.
func Topics() []string {
	return []string{TopicStoreChunk, TopicAbortUpload, TopicDeleteFile, TopicEvents}
}

// TopicFor returns the topic a message with this name belongs on, or "" for a
// name this version of the contract does not know.
func TopicFor(name string) string {
	switch name {
	case NameStoreChunk:
		return TopicStoreChunk
	case NameAbortUpload:
		return TopicAbortUpload
	case NameDeleteFile:
		return TopicDeleteFile
	case NameBitsCounted, NameFileStored, NameUploadFailed, NameFileDeleted:
		return TopicEvents
	}
	return ""
}
