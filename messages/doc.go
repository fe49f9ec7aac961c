// Package messages is BAUM's public message contract: the commands other programs
// send, the events the services publish, the Kafka topics they travel on, their
// partition keys and their wire format — and a Client that sends files and
// deletions as commands and waits for their outcome.
//
// It is meant to be imported by other Go programs, with its subpackage
// kafkaclient (the Kafka connection, with the settings the services use);
// neither imports anything else of BAUM. A change here that alters a
// message's name, topic, key or field is a breaking change for every
// producer and consumer, so each of those is pinned by golden files
// (testdata) and documented, generated from this code, in docs/messages.md.
//
// Flow of one upload (every message keyed by the upload id, so one upload's
// messages stay in order inside one partition):
//
//	client ──StoreChunk×N──▶ TopicStoreChunk ──▶ zeros, ones (each its own consumer group)
//	zeros, ones ──BitsCounted──▶ TopicEvents ──▶ zeros, ones
//	keeper(s) ──FileStored──▶ TopicEvents ──▶ zeros, ones (the receiving service answers HTTP)
//
// A StoreChunk travels raw: the chunk's bytes are the Kafka record value and its
// fields are record headers. Every other message is a JSON document.
//
// To store a file from a Go program, build a Client on a Watermill command bus
// (CommandBusConfig) and an event subscriber (kafkaclient.NewEventSubscriber),
// or let kafkaclient.New build all three; then Client.SendAndWait. The
// examples run, in the tests, against a real BAUM.
package messages
