// Package messages is BAUM's public message contract: the commands other programs
// send, the events the services publish, the Kafka topics they travel on, their
// partition keys and their wire format.
//
// It is the one package of this module meant to be imported by other Go programs.
// A change here that alters a message's name, topic, key or field is a breaking
// change for every producer and consumer, so each of those is fixed by tests.
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
package messages
